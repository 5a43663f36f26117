"""Searchable ops vs plain torch layers: forward + backward of the same small CNN.

The searchable CNN slices its shared weights for each of a few sampled architectures; the baseline is the same
CNN made of plain torch layers of the active sizes (the ops' ``export_module()``). Both run
interleaved step by step (alternating which goes first), batch 32 on 32x32 images, gradients set
to None between steps as ``optimizer.zero_grad()`` does; the ratio of medians should be <= 1.03.

Timing: by default one torch thread and the CPU time of that thread, so that other processes on a
shared machine do not land in one side's samples; wall-clock medians are printed too.

Allocator: the shared weight's gradient is full size (that is weight sharing), so each step
allocates larger gradient buffers than the plain layers do. glibc hands such large blocks back to
the OS on free and page-faults them in again on the next step, which on small VMs costs more than
the slicing itself. ``--keep-freed-memory`` applies the usual CPU-training fix (what jemalloc or
tcmalloc do) to both sides via ``mallopt``; run with and without it to see both figures.

    .venv/bin/python benchmarks/bench_ops.py [--keep-freed-memory] [--archs 4] [--repeats 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import statistics

import torch
from _timing import RatioReport, keep_freed_memory, timed_step
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.nas.ops import BatchNorm2d, Conv2d, DepthwiseConv2d, Linear
from hyperbox.nas.spaces import ValueSpace


def searchable_cnn() -> nn.Sequential:
    stem = ValueSpace([16, 24, 32], key="stem_width")
    mid = ValueSpace([32, 48, 64], key="mid_width")
    head = ValueSpace([64, 96, 128], key="head_width")

    def kernel(key: str) -> ValueSpace:
        return ValueSpace([3, 5, 7], key=key)

    return nn.Sequential(
        Conv2d(3, stem, kernel("k1"), bias=False),
        BatchNorm2d(stem),
        nn.ReLU(),
        Conv2d(stem, mid, kernel("k2"), stride=2, bias=False),
        BatchNorm2d(mid),
        nn.ReLU(),
        DepthwiseConv2d(mid, kernel("k3"), bias=False),
        BatchNorm2d(mid),
        nn.ReLU(),
        Conv2d(mid, head, 1, bias=False),
        BatchNorm2d(head),
        nn.ReLU(),
        Conv2d(head, head, kernel("k4"), stride=2, bias=False),
        BatchNorm2d(head),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        Linear(head, 10),
    )


def exported(model: nn.Sequential) -> nn.Sequential:
    return nn.Sequential(*(m.export_module() if hasattr(m, "export_module") else m for m in model))


def compare(searchable: nn.Module, images: torch.Tensor, labels: torch.Tensor, repeats: int) -> dict:
    """Median (CPU, wall) seconds per step of the searchable net and of its export, interleaved."""
    plain = exported(searchable)
    with torch.no_grad():  # same function: only the cost may differ
        torch.testing.assert_close(searchable.eval()(images), plain.eval()(images), atol=1e-4, rtol=1e-4)
    searchable.train(), plain.train()
    for _ in range(3):  # warm-up
        for model in (searchable, plain):
            timed_step(model, images, labels)
    samples: dict[str, list[tuple[float, float]]] = {"searchable": [], "plain": []}
    order = [("searchable", searchable), ("plain", plain)]
    for repeat in range(repeats):
        for name, model in order if repeat % 2 else order[::-1]:  # alternate which side goes first
            samples[name].append(timed_step(model, images, labels))
    return {
        name: tuple(statistics.median(sample[clock] for sample in values) for clock in (0, 1))
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=4, help="sampled architectures to compare")
    parser.add_argument("--repeats", type=int, default=40, help="timed steps per side and architecture")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is exact for 1)")
    parser.add_argument("--seed", type=int, default=0, help="picks the weights and the sampled architectures")
    parser.add_argument("--keep-freed-memory", action="store_true", help="tune glibc malloc for both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        keep_freed_memory()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    searchable = searchable_cnn()
    space = SearchSpace.of(searchable)
    images, labels = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch 32x3x32x32, forward+backward, "
        f"{'kept' if args.keep_freed_memory else 'default glibc'} freed memory, median of {args.repeats} steps"
    )
    report = RatioReport("searchable", "plain", target=1.03)
    for _ in range(args.archs):
        arch = space.apply(space.sample(rng))
        chosen = " ".join(f"{key}={space[key].labels[index]}" for key, index in arch.items())
        report.add(chosen, compare(searchable, images, labels, args.repeats))
    report.finish()


if __name__ == "__main__":
    main()
