"""DARTS search network in mixed mode: Hyperbox's ``DartsNetwork`` + ``DartsMutator`` vs NNI 3.0's DARTS space.

Issue 4's acceptance: forward+backward of the DARTS search network (C=16, 8 cells, batch
16x3x32x32) against NNI 3.0's DARTS space at the same settings, Hyperbox at most 0.85x NNI's time.

The two sides:

* Hyperbox: ``DartsNetwork(C=16, layers=8, num_classes=10, in_channels=3)`` with
  ``DartsMutator(model, seed=0).reset()`` (mixed mode: every edge sums ``softmax(alpha)[i] * op_i(x)``
  over the eight operations, ``none`` skipped; every node sums all its edges).
* NNI 3.0: ``nni.nas.hub.pytorch.DARTS(width=16, num_cells=8, dataset='cifar')`` turned into its
  differentiable supernet by ``nni.nas.strategy.DARTS().mutate_model(space)`` -- what NNI's DARTS
  strategy does before training (its cells become ``DifferentiableMixedCell``: every edge stacks the
  seven operations, appends a zero tensor for ``none`` and sums them weighted by ``softmax(alpha)``,
  eight weights per edge; convolutions and batch norms become ``MixedConv2d``/``MixedBatchNorm2d``).
  No Lightning trainer is involved: this times the network, not NNI's training loop.

Both are the paper's search network: stem of 3*C channels, 8 cells with reductions at cells 2 and
5, 4 nodes, 14 edges a cell, the same eight operations on C channels, normal and reduction cells
each sharing one set of alphas. Their convolution and linear weights are identical in number
(printed); NNI's batch norms have affine weights (the paper's search network and ours do not), and
ours puts a non-affine batch norm after each pooling as the paper's ``MixedOp`` does (NNI does not).

One step: gradients set to None, forward, cross-entropy against fixed labels, backward; the first
step of each side also checks that every weight and every edge alpha got a gradient (our eight
node-input alphas get none in mixed mode, by design: a DARTS node sums all its edges). Both sides
get the same batch (same seed, same torch). The two live in different virtual environments, so
NNI's side runs in a worker subprocess under ``--nni-python``; the sides alternate in rounds of
``--steps`` steps (which goes first alternates too), after ``--warmup`` steps each. Each side uses
one torch thread (``--threads``) and times its own thread's CPU time (other jobs on a shared
machine do not land in it) and the wall time; medians over all timed steps are reported, with the
ratio Hyperbox / NNI. ``--profile N`` then profiles N more steps of each side with torch.profiler.
Our network keeps activations channels-last (NHWC) by default (``DartsNetwork(channels_last=True)``);
``--nni-channels-last`` is an experiment, not NNI's behaviour: this script converts NNI's weights and
batch to channels-last too, to compare layouts like for like.

Setting up NNI's virtual environment (outside the repository; torch pinned to ours)::

    python3 -m venv /tmp/nni-venv
    /tmp/nni-venv/bin/pip install torch==2.13.0
    echo 'torch==2.13.0' > /tmp/nni-constraints.txt
    /tmp/nni-venv/bin/pip install -c /tmp/nni-constraints.txt nni==3.0 'pytorch-lightning==2.0.*'
    # pytorch-lightning 2.0 (lightning_fabric) imports pkg_resources, which setuptools 84 no longer has:
    /tmp/nni-venv/bin/pip install -c /tmp/nni-constraints.txt 'setuptools<70'
    /tmp/nni-venv/bin/python -c "import nni.nas.hub.pytorch, nni.nas.strategy"   # check

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_darts_nni.py --nni-python /tmp/nni-venv/bin/python \\
        [--C 16] [--layers 8] [--batch 16] [--size 32] [--rounds 5] [--steps 2] [--warmup 1] \\
        [--nni-channels-last] [--profile 0]

This file is also the worker (``--worker``, run under NNI's interpreter); it imports Hyperbox only
on Hyperbox's side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PREFIX = "@@bench "  # marks the worker's protocol lines on its stdout (NNI may print other lines)


class Side:
    """A supernet, its weights and its architecture weights, and the batch it trains on."""

    def __init__(self, name: str, model: nn.Module, alphas: list[nn.Parameter], args: argparse.Namespace) -> None:
        self.name, self.model = name, model.train()
        alpha_ids = {id(a) for a in alphas}
        self.weights = [p for p in model.parameters() if id(p) not in alpha_ids]
        self.alphas = alphas
        generator = torch.Generator().manual_seed(args.seed)
        self.images = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
        self.labels = torch.randint(0, 10, (args.batch,), generator=generator)
        # ours: the network's own layout; NNI's: NHWC only as an experiment of this script
        self.channels_last = getattr(model, "channels_last", False) or (name == "nni" and args.nni_channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.images = self.images.contiguous(memory_format=torch.channels_last)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "channels_last": self.channels_last,
            "weights": sum(p.numel() for p in self.weights),
            "conv_linear_weights": sum(p.numel() for p in self.weights if p.dim() > 1),
            "alphas": sum(a.numel() for a in self.alphas),
            "alpha_tensors": len(self.alphas),
        }

    def step(self) -> tuple[float, float]:
        """CPU time of this thread and wall time of one forward + backward."""
        for p in (*self.weights, *self.alphas):
            p.grad = None
        cpu, wall = time.thread_time(), time.perf_counter()
        F.cross_entropy(self.model(self.images), self.labels).backward()
        return time.thread_time() - cpu, time.perf_counter() - wall

    def check_grads(self) -> dict[str, Any]:
        """After a step: how many weights and alphas received a gradient."""
        return {
            "weights_with_grad": sum(p.grad is not None for p in self.weights),
            "weight_tensors": len(self.weights),
            "alphas_with_grad": sum(a.grad is not None for a in self.alphas),
            "alpha_tensors": len(self.alphas),
        }

    def profile(self, steps: int, rows: int) -> str:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                self.step()
        return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def hyperbox_side(args: argparse.Namespace) -> Side:
    from hyperbox.nas.mutators import DartsMutator
    from hyperbox.networks.darts import DartsNetwork

    torch.manual_seed(args.seed)
    model = DartsNetwork(C=args.C, layers=args.layers, num_classes=10, in_channels=3)
    mutator = DartsMutator(model, seed=0)
    mutator.reset()  # mixed mode
    side = Side("hyperbox", model, list(mutator.arch_parameters()), args)
    side.mutator = mutator  # keep it alive (it holds the mixers)
    return side


def nni_side(args: argparse.Namespace) -> Side:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from nni.nas.hub.pytorch import DARTS
    from nni.nas.strategy import DARTS as DartsStrategy

    torch.manual_seed(args.seed)
    space = DARTS(width=args.C, num_cells=args.layers, dataset="cifar")
    model = DartsStrategy().mutate_model(space)  # the differentiable supernet, in place
    # As DartsLightningModule.arch_parameters() collects them (shared alphas appear once).
    alphas = {id(p): p for m in model.modules() if hasattr(m, "arch_parameters") for p in m.arch_parameters()}
    return Side("nni", model, list(alphas.values()), args)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass


def worker(args: argparse.Namespace) -> None:
    """NNI's side, driven over stdin/stdout by the main process."""
    set_threads(args.threads)
    side = nni_side(args)
    out = sys.stdout

    def reply(obj: Any) -> None:
        out.write(PREFIX + json.dumps(obj) + "\n")
        out.flush()

    reply({"info": side.info()})
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "steps":
            samples = [side.step() for _ in range(int(arg))]
            reply({"samples": samples, "grads": side.check_grads()})
        elif command == "profile":
            steps, rows = map(int, arg.split())
            reply({"table": side.profile(steps, rows)})
        elif command == "quit":
            break


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        command = [args.nni_python, os.path.abspath(__file__), "--worker"]
        for option in ("C", "layers", "batch", "size", "threads", "seed"):
            command += [f"--{option}", str(getattr(args, option))]
        if args.nni_channels_last:
            command.append("--nni-channels-last")
        env = dict(os.environ)
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[variable] = str(args.threads)
        env.pop("PYTHONPATH", None)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self.read()["info"]

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
            sys.stderr.write(f"[nni worker] {line}")
        raise RuntimeError(f"NNI worker exited (code {self.process.wait()}); see its messages above")

    def send(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        try:
            self.send("quit")
        except (BrokenPipeError, RuntimeError):
            pass
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nni-python", default="/tmp/nni-venv/bin/python", help="python of NNI 3.0's venv")
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per side per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per side first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per side (CPU time is exact for 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nni-channels-last",
        action="store_true",
        help="experiment: convert NNI's weights and batch to channels-last (NHWC) in this script",
    )
    parser.add_argument("--profile", type=int, default=0, help="then profile this many steps per side")
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    set_threads(args.threads)
    nni = Worker(args)
    try:
        ours = hyperbox_side(args)
        info = {"hyperbox": ours.info(), "nni": nni.info}
        print(
            f"DARTS search network C={args.C}, {args.layers} cells, batch {args.batch}x3x{args.size}x{args.size}, "
            f"forward+backward (cross-entropy), {args.threads} torch thread(s) per side"
        )
        for name, i in info.items():
            layout = ", channels-last" if i["channels_last"] else ""
            print(
                f"  {name:8s} torch {i['torch']}{layout}: {i['weights']} weights ({i['conv_linear_weights']} in "
                f"convolutions and linear layers), {i['alphas']} alphas in {i['alpha_tensors']} tensors"
            )

        def run(name: str, steps: int) -> tuple[list, dict]:
            if name == "nni":
                reply = nni.send(f"steps {steps}")
                return [tuple(s) for s in reply["samples"]], reply["grads"]
            return [ours.step() for _ in range(steps)], ours.check_grads()

        for name in ("hyperbox", "nni"):
            _, grads = run(name, args.warmup)
            print(
                f"  {name:8s} gradients: {grads['weights_with_grad']}/{grads['weight_tensors']} weight tensors, "
                f"{grads['alphas_with_grad']}/{grads['alpha_tensors']} alpha tensors"
            )

        samples: dict[str, list] = {"hyperbox": [], "nni": []}
        for index in range(args.rounds):
            order = ["hyperbox", "nni"] if index % 2 == 0 else ["nni", "hyperbox"]
            for name in order:
                samples[name] += run(name, args.steps)[0]
            round_cpu = [statistics.median(s[0] for s in samples[n][-args.steps :]) for n in ("hyperbox", "nni")]
            print(
                f"  round {index + 1}: CPU hyperbox {round_cpu[0] * 1e3:7.0f} ms, nni {round_cpu[1] * 1e3:7.0f} ms, "
                f"ratio {round_cpu[0] / round_cpu[1]:.3f}",
                flush=True,
            )
        count = len(samples["hyperbox"])
        if count:
            print(f"medians of {count} steps per side:")
        for clock, i in (("CPU ", 0), ("wall", 1)) if count else ():
            mine, theirs = (statistics.median(s[i] for s in samples[n]) for n in ("hyperbox", "nni"))
            print(f"  {clock}  hyperbox {mine * 1e3:8.1f} ms   nni {theirs * 1e3:8.1f} ms   ratio {mine / theirs:.3f}")

        if args.profile:
            print(f"\ntorch.profiler, hyperbox, {args.profile} step(s):")
            print(ours.profile(args.profile, args.profile_rows))
            print(f"\ntorch.profiler, nni, {args.profile} step(s):")
            print(nni.send(f"profile {args.profile} {args.profile_rows}")["table"])
    finally:
        nni.close()


if __name__ == "__main__":
    main()
