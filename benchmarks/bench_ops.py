"""Searchable ops vs plain torch layers: forward + backward of the same small CNN.

The searchable CNN slices its shared weights for a sampled architecture; the baseline is the same
CNN made of plain torch layers of the active sizes (the ops' ``export_module()``). Both run
interleaved, batch 32 on 32x32 images; the ratio of median times should stay <= 1.03.

    .venv/bin/python benchmarks/bench_ops.py [--repeats 15] [--steps 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
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
        Conv2d(3, stem, kernel("k1"), bias=False), BatchNorm2d(stem), nn.ReLU(),
        Conv2d(stem, mid, kernel("k2"), stride=2, bias=False), BatchNorm2d(mid), nn.ReLU(),
        DepthwiseConv2d(mid, kernel("k3"), bias=False), BatchNorm2d(mid), nn.ReLU(),
        Conv2d(mid, head, 1, bias=False), BatchNorm2d(head), nn.ReLU(),
        Conv2d(head, head, kernel("k4"), stride=2, bias=False), BatchNorm2d(head), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), Linear(head, 10),
    )


def exported(model: nn.Sequential) -> nn.Sequential:
    return nn.Sequential(*(m.export_module() if hasattr(m, "export_module") else m for m in model))


def step_time(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    searchable = searchable_cnn().train()
    space = SearchSpace.of(searchable)
    arch = space.apply(space.sample(random.Random(args.seed)))
    plain = exported(searchable).train()
    images, labels = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    with torch.no_grad():  # same function: only the cost may differ
        torch.testing.assert_close(searchable.eval()(images), plain.eval()(images), atol=1e-4, rtol=1e-4)
    searchable.train(), plain.train()

    for model in (searchable, plain):  # warm-up
        step_time(model, images, labels, 3)
    times: dict[str, list[float]] = {"searchable": [], "plain": []}
    for repeat in range(args.repeats):
        order = [("searchable", searchable), ("plain", plain)]
        for name, model in order if repeat % 2 else reversed(order):  # interleaved, alternating first
            times[name].append(step_time(model, images, labels, args.steps))

    chosen = {key: space[key].labels[index] for key, index in arch.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 32x3x32x32, forward+backward")
    print(f"architecture: {chosen}")
    print(f"searchable ops: {median['searchable'] * 1e3:8.2f} ms/step (median of {args.repeats} x {args.steps})")
    print(f"plain torch   : {median['plain'] * 1e3:8.2f} ms/step")
    print(f"ratio         : {median['searchable'] / median['plain']:.3f}  (target <= 1.03)")


if __name__ == "__main__":
    main()
