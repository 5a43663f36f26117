"""DARTS search network in mixed mode: Hyperbox's ``DartsNetwork`` + ``DartsMutator`` vs plain PyTorch.

Both sides are the paper's search supernet (``C`` channels, ``layers`` cells, 4 nodes, the eight
operations with non-affine batch norms) with the same weights; one step is forward + backward of
the mean output on one batch, gradients set to None in between. The baseline is the supernet written
as the paper's code writes it: a ``MixedOp`` that sums ``w * op(x)`` over all eight operations
(``none`` included) and cells that sum every edge, with the alphas as two tensors of the model.
Hyperbox's side runs the same operations through ``OperationSpace`` in mixed mode (which skips
``none``) and ``NodeInputs``. The sides alternate step by step (alternating which goes first).

Timing: by default one torch thread and the CPU time of that thread, so that other processes on a
shared machine do not land in one side's samples; wall-clock medians are printed too. The issue's
setting is C=16, 8 cells, batch 16x3x32x32; on a small CPU use e.g. ``--batch 4`` or ``--size 16``.
Both sides run in NCHW layout, so the ratio is the cost of Hyperbox's mutables themselves (the
network's default channels-last layout is measured against NNI 3.0 in ``bench_darts_nni.py``).

    .venv/bin/python benchmarks/bench_darts.py [--C 16] [--layers 8] [--batch 16] [--size 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from hyperbox.nas.mutators import DartsMutator
from hyperbox.networks.darts import PRIMITIVES, DartsNetwork
from hyperbox.networks.darts.operations import FactorizedReduce, ReLUConvBN, operation
from hyperbox.networks.darts.search import reduction_layers


class MixedOp(nn.Module):
    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(operation(name, channels, stride, search=True) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class PlainCell(nn.Module):
    def __init__(self, nodes, c_prev_prev, c_prev, channels, reduction, reduction_prev) -> None:
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
        self.ops = nn.ModuleList(
            MixedOp(channels, 2 if reduction and source < 2 else 1)
            for node in range(2, 2 + nodes)
            for source in range(node)
        )

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            states.append(sum(self.ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)


class PlainDartsNetwork(nn.Module):
    def __init__(self, C: int, layers: int, nodes: int = 4, num_classes: int = 10) -> None:
        super().__init__()
        c_current = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_current, 3, padding=1, bias=False), nn.BatchNorm2d(c_current))
        c_prev_prev, c_prev, c_current = c_current, c_current, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for index in range(layers):
            reduction = index in reduction_layers(layers)
            c_current *= 2 if reduction else 1
            self.cells.append(PlainCell(nodes, c_prev_prev, c_prev, c_current, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, nodes * c_current
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        edges = sum(range(2, 2 + nodes))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            alphas = self.alphas_reduce if cell.reduction else self.alphas_normal
            s0, s1 = s1, cell(s0, s1, alphas.softmax(dim=-1))
        return self.classifier(self.global_pooling(s1).flatten(1))


def step(model: nn.Module, parameters: list, images: torch.Tensor) -> tuple[float, float]:
    """CPU time of this thread and wall time of one forward + backward."""
    for p in parameters:
        p.grad = None
    cpu, wall = time.thread_time(), time.perf_counter()
    model(images).mean().backward()
    return time.thread_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per side (after one warm-up step each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is exact for 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ours = DartsNetwork(C=args.C, layers=args.layers, channels_last=False)  # the baseline's layout
    mutator = DartsMutator(ours, seed=0)
    mutator.reset()  # mixed mode
    plain = PlainDartsNetwork(args.C, args.layers)
    # Same weights on both sides: parameters are created in the same order.
    plain_weights = [p for name, p in plain.named_parameters() if not name.startswith("alphas")]
    with torch.no_grad():
        for mine, theirs in zip(ours.parameters(), plain_weights, strict=True):
            theirs.copy_(mine)
    sides = {
        "hyperbox": (ours, [*ours.parameters(), *mutator.arch_parameters()]),
        "plain": (plain, list(plain.parameters())),
    }
    images = torch.randn(args.batch, 3, args.size, args.size)
    for model, parameters in sides.values():
        step(model, parameters, images)  # warm-up
    samples = {name: [] for name in sides}
    for repeat in range(args.repeats):
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for name in order:
            samples[name].append(step(*sides[name], images))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), DARTS search network C={args.C}, "
        f"{args.layers} cells, batch {args.batch}x3x{args.size}x{args.size}, forward+backward, median of {args.repeats}"
    )
    medians = {name: [statistics.median(s[i] for s in values) for i in range(2)] for name, values in samples.items()}
    (ours_cpu, ours_wall), (plain_cpu, plain_wall) = medians["hyperbox"], medians["plain"]
    for clock, mine, theirs in (("CPU ", ours_cpu, plain_cpu), ("wall", ours_wall, plain_wall)):
        print(f"  {clock}  hyperbox {mine * 1e3:9.1f} ms   plain {theirs * 1e3:9.1f} ms   ratio {mine / theirs:.3f}")


if __name__ == "__main__":
    main()
