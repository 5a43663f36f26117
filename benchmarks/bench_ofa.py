"""OFA MobileNetV3: a sampled subnet run through the supernet vs the same subnet extracted by build_subnet.

For each of a few sampled architectures, forward + backward of the supernet (sliced shared weights,
kernel-transform matrices, elastic depth) and of ``build_subnet(arch)`` (plain torch layers holding
the transformed weights) run interleaved step by step, alternating which side goes first; gradients
are set to None between steps as ``optimizer.zero_grad()`` does. The ratio of the medians should be
<= 1.03. Both sides compute the same function (checked in eval mode before timing).

Timing: by default one torch thread and the CPU time of that thread, so that other processes on a
shared machine do not land in one side's samples; wall-clock medians are printed too.
``--keep-freed-memory`` stops glibc from returning freed blocks to the OS (page faults on the
supernet's full-size gradient buffers otherwise count against it), applied to both sides.

    .venv/bin/python benchmarks/bench_ofa.py [--archs 3] [--repeats 20] [--batch 8] [--resolution 128] \
        [--keep-freed-memory]
"""

from __future__ import annotations

import argparse
import random
import statistics

import torch
from _timing import RatioReport, keep_freed_memory, timed_step
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.networks.ofa import OFAMobileNetV3


def compare(supernet: nn.Module, subnet: nn.Module, images: torch.Tensor, labels: torch.Tensor, repeats: int) -> dict:
    """Median (CPU, wall) seconds per step of each side, interleaved."""
    with torch.no_grad():  # same function: only the cost may differ
        torch.testing.assert_close(supernet.eval()(images), subnet.eval()(images), atol=1e-4, rtol=1e-4)
    supernet.train(), subnet.train()
    sides = [("supernet", supernet), ("subnet", subnet)]
    for _ in range(2):  # warm-up
        for _, model in sides:
            timed_step(model, images, labels)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in sides}
    for repeat in range(repeats):
        for name, model in sides if repeat % 2 else sides[::-1]:
            samples[name].append(timed_step(model, images, labels))
    return {
        name: tuple(statistics.median(sample[clock] for sample in values) for clock in (0, 1))
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=3, help="sampled architectures to compare")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per side and architecture")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is exact for 1)")
    parser.add_argument("--seed", type=int, default=0, help="picks the weights and the sampled architectures")
    parser.add_argument("--keep-freed-memory", action="store_true", help="tune glibc malloc for both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        keep_freed_memory()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    supernet = OFAMobileNetV3()  # the paper's space: kernel 3/5/7, expand 3/4/6, depth 2/3/4, width 1.0
    space = SearchSpace.of(supernet)
    images = torch.randn(args.batch, 3, args.resolution, args.resolution)
    labels = torch.randint(0, 1000, (args.batch,))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), OFA MobileNetV3 w1.0, batch "
        f"{args.batch}x3x{args.resolution}x{args.resolution}, forward+backward, "
        f"{'kept' if args.keep_freed_memory else 'default glibc'} freed memory, median of {args.repeats} steps"
    )
    report = RatioReport("supernet", "subnet", target=1.03)
    for _ in range(args.archs):
        arch = space.to_json(space.apply(space.sample(rng)))
        depths = [space[f"stage{s}.depth"].labels[arch[f"stage{s}.depth"]] for s in range(1, 6)]
        report.add(f"depths {depths}", compare(supernet, supernet.build_subnet(arch), images, labels, args.repeats))
    report.finish()


if __name__ == "__main__":
    main()
