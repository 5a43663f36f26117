"""Search algorithms against random search at the same budget, on a seeded synthetic objective.

The space mixes every kind of domain: six categorical operations, two integer widths, a
log-scaled learning rate, a dropout rate and two inputs chosen out of five. Its objective
("accuracy") is a sum of seeded per-decision tables, with an interaction table for each pair of
neighbouring operations, a peak for each width, the learning rate and the dropout (the values
and peaks differ with the seed). For two objectives a "cost" is added, to minimise: each
operation's cost is mostly its gain, and the widths cost what they are, so the best accuracy
is expensive.

One objective: the mean over the seeds of the best accuracy each mutator found (``mcts``,
``evolution``, ``moead`` against ``random``). Two objectives: the mean hypervolume of the Pareto
front of the search (``moead``, ``evolution`` with NSGA-II, against ``random``), both objectives
scaled to [0, 1] by the range every search of that seed reached, the reference point their worst
corner. Each seed seeds both the objective's tables and the searches. ``mcts``'s default
exploration constant was tuned on this family of objectives (other seeds), which flatters it here.

    .venv/bin/python benchmarks/bench_searchers.py [--budget 100] [--seeds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

from hyperbox.kernel import search
from hyperbox.kernel.space import Categorical, FloatRange, IntRange, Subset
from hyperbox.kernel.testing import ToyMutable, ToySpace

OPERATIONS, CANDIDATES, INPUTS = 6, 4, 5


def mixed_space() -> ToySpace:
    return ToySpace(
        [ToyMutable(f"op{i}", Categorical(CANDIDATES)) for i in range(OPERATIONS)]
        + [
            ToyMutable("width_a", IntRange(8, 64, step=4)),
            ToyMutable("width_b", IntRange(1, 100)),
            ToyMutable("lr", FloatRange(1e-4, 1e-1, log=True)),
            ToyMutable("dropout", FloatRange(0.0, 0.5)),
            ToyMutable("inputs", Subset(INPUTS, 2)),
        ]
    )


class Synthetic:
    """The seeded objective: ``accuracy`` (to maximise) and ``cost`` (to minimise) of an
    architecture (JSON form)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.gain = [[rng.random() for _ in range(CANDIDATES)] for _ in range(OPERATIONS)]
        self.pair = [
            [[rng.uniform(-0.5, 0.5) for _ in range(CANDIDATES)] for _ in range(CANDIDATES)]
            for _ in range(OPERATIONS - 1)
        ]
        self.cost = [[0.7 * g + 0.3 * rng.random() for g in gains] for gains in self.gain]
        self.peak_a, self.peak_b = rng.uniform(8, 64), rng.uniform(1, 100)
        self.peak_lr, self.peak_dropout = rng.uniform(-4, -1), rng.uniform(0.0, 0.5)
        self.input_gain = [rng.random() for _ in range(INPUTS)]

    def accuracy(self, arch: dict) -> float:
        ops = [arch[f"op{i}"] for i in range(OPERATIONS)]
        value = sum(self.gain[i][op] for i, op in enumerate(ops))
        value += sum(self.pair[i][a][b] for i, (a, b) in enumerate(zip(ops, ops[1:])))
        value += 1 - ((arch["width_a"] - self.peak_a) / 56) ** 2
        value += 1 - ((arch["width_b"] - self.peak_b) / 99) ** 2
        value += 1 - ((math.log10(arch["lr"]) - self.peak_lr) / 3) ** 2
        value += 1 - ((arch["dropout"] - self.peak_dropout) / 0.5) ** 2
        value += sum(gain for gain, chosen in zip(self.input_gain, arch["inputs"]) if chosen)
        return value

    def costs(self, arch: dict) -> float:
        ops = sum(self.cost[i][arch[f"op{i}"]] for i in range(OPERATIONS))
        return ops + arch["width_a"] / 64 + arch["width_b"] / 100

    def __call__(self, trial) -> dict:
        return {"accuracy": self.accuracy(trial.arch), "cost": self.costs(trial.arch)}


def best_accuracy(mutator, seed: int, budget: int) -> float:
    result = search(mixed_space(), mutator, objective=Synthetic(seed), budget=budget, seed=seed)
    return result.best.metrics["accuracy"]


def fronts(mutators: dict, seed: int, budget: int) -> dict[str, list[tuple[float, float]]]:
    """Each mutator's Pareto front: ``(accuracy, cost)`` of each of its members."""
    found = {}
    for name, mutator in mutators.items():
        result = search(
            mixed_space(),
            mutator,
            objective=Synthetic(seed),
            objectives=["accuracy", "cost"],
            directions=["maximize", "minimize"],
            budget=budget,
            seed=seed,
        )
        found[name] = [(t.metrics["accuracy"], t.metrics["cost"]) for t in result.pareto_front]
    return found


def hypervolumes(found: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """The area each front dominates, both objectives scaled to [0, 1] over every front (so
    that the reference point, their worst corner, is (1, 1) in minimised units)."""
    points = [point for front in found.values() for point in front]
    low_a, high_a = min(a for a, _ in points), max(a for a, _ in points)
    low_c, high_c = min(c for _, c in points), max(c for _, c in points)
    volumes = {}
    for name, front in found.items():
        scaled = sorted(((high_a - a) / (high_a - low_a), (c - low_c) / (high_c - low_c)) for a, c in front)
        area, ceiling = 0.0, 1.0
        for (x, y), (next_x, _) in zip(scaled, [*scaled[1:], (1.0, 0.0)]):
            ceiling = min(ceiling, y)
            area += (next_x - x) * (1.0 - ceiling)
        volumes[name] = area
    return volumes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=100, help="trials per search")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, 1, ... (objective and search)")
    options = parser.parse_args()
    seeds = range(options.seeds)

    single = {"random": "random", "evolution": "evolution", "mcts": "mcts", "moead": "moead"}
    print(f"one objective, best accuracy found in {options.budget} trials (seeds {list(seeds)})")
    print(f"{'mutator':<12} {'mean':>8}   per seed")
    for name, mutator in single.items():
        bests = [best_accuracy(mutator, seed, options.budget) for seed in seeds]
        print(f"{name:<12} {statistics.mean(bests):>8.3f}   " + ", ".join(f"{b:.3f}" for b in bests))

    double = {"random": "random", "evolution (nsga2)": "evolution", "moead": "moead"}
    volumes = [hypervolumes(fronts(double, seed, options.budget)) for seed in seeds]
    print(f"\ntwo objectives (accuracy up, cost down), hypervolume of the Pareto front in {options.budget} trials")
    print(f"{'mutator':<18} {'mean':>8}   per seed")
    for name in double:
        per_seed = [v[name] for v in volumes]
        print(f"{name:<18} {statistics.mean(per_seed):>8.3f}   " + ", ".join(f"{v:.3f}" for v in per_seed))


if __name__ == "__main__":
    main()
