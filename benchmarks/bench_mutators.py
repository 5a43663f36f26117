"""The search algorithms' own cost per sampled architecture, against one training step.

For each mutator: the median time of ``reset()`` (sample + apply) plus ``observe()`` on the demo
CNN space, side by side with one forward+backward step (batch 64) of a sampled subnet of that
space; the ratio is the share of a step the search itself costs.

    .venv/bin/python benchmarks/bench_mutators.py
"""

import statistics
import time

import torch

from hyperbox.nas.demo_space import DigitsCNNSpace
from hyperbox.nas.mutators import DartsMutator, ENASMutator, EvolutionMutator, GDASMutator, RandomMutator
from hyperbox.nas.subnet import build_subnet


def median_seconds(step, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_step_seconds(repeats: int) -> float:
    space = DigitsCNNSpace()
    subnet = build_subnet(space, RandomMutator(space, seed=0).reset())
    optimizer = torch.optim.SGD(subnet.parameters(), lr=0.01)
    inputs, targets = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(subnet(inputs), targets).backward()
        optimizer.step()

    return median_seconds(step, repeats)


def mutator_seconds(factory, repeats: int) -> float:
    space = DigitsCNNSpace()
    mutator = factory(space)
    scores = iter(range(10**6))

    def step():
        arch = mutator.space.to_json(mutator.reset())
        mutator.observe(arch, {"accuracy": (next(scores) % 17) / 17})

    step()  # warm-up (lazy state)
    return median_seconds(step, repeats)


def main(repeats: int = 200) -> None:
    torch.set_num_threads(1)
    train = training_step_seconds(50)
    print(f"training step (batch 64, sampled subnet): {train * 1e3:.3f} ms")
    print(f"{'mutator':<12} {'ms / architecture':>18} {'x training step':>16}")
    factories = {
        "random": lambda m: RandomMutator(m, seed=0),
        "evolution": lambda m: EvolutionMutator(m, seed=0, population_size=20),
        "enas": lambda m: ENASMutator(m, seed=0),
        "darts": lambda m: DartsMutator(m, seed=0),
        "gdas": lambda m: GDASMutator(m, seed=0),
    }
    try:
        from hyperbox.hpo import OptunaMutator

        factories["optuna-tpe"] = lambda m: OptunaMutator(m, seed=0, sampler="tpe")
    except ImportError:
        pass
    for name, factory in factories.items():
        seconds = mutator_seconds(factory, repeats if name != "optuna-tpe" else 50)
        print(f"{name:<12} {seconds * 1e3:>18.3f} {seconds / train:>16.3f}")


if __name__ == "__main__":
    main()
