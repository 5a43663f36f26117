"""Regularised (aging) evolution, with NSGA-II ranking for several objectives (torch-free).

Real et al., "Regularized Evolution for Image Classifier Architecture Search" (AAAI 2019):
a population of evaluated architectures; each child is a mutated copy of the winner of a
tournament among ``sample_size`` random members, and the oldest member dies. For several
objectives the tournament and the survival use NSGA-II's order (Deb et al. 2002): the
non-dominated front first, then the crowding distance.

The kernel asks (``reset``) and tells (``observe``) separately, and several trials may be out at
once: a child joins the population only when its metrics arrive; until then evolution works
from the members already evaluated (random architectures while there are none).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Categorical, Domain, FloatRange, IntRange, Subset

__all__ = ["EvolutionMutator", "crowding_distances", "estimate_costs", "non_dominated_fronts"]

#: Width of a local move of an IntRange/FloatRange, as a fraction of the range.
LOCAL_MOVE_SCALE = 0.1


def non_dominated_fronts(values: Sequence[Sequence[float]]) -> list[list[int]]:
    """Fast non-dominated sorting: indices of ``values`` by front, best front first.

    Every objective is to be maximised (sign minimised ones beforehand).
    """

    def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    dominated_by = [[j for j in range(len(values)) if dominates(values[i], values[j])] for i in range(len(values))]
    domination_count = [sum(dominates(values[j], values[i]) for j in range(len(values))) for i in range(len(values))]
    fronts = []
    current = [i for i, count in enumerate(domination_count) if count == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by[i]:
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def crowding_distances(values: Sequence[Sequence[float]], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of each index of ``front`` (boundary points get infinity)."""
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for objective in range(len(values[front[0]])):
        ordered = sorted(front, key=lambda i: values[i][objective])
        low, high = values[ordered[0]][objective], values[ordered[-1]][objective]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (values[after][objective] - values[before][objective]) / (high - low)
    return distance


def estimate_costs(
    model: Any, arch: Mapping[str, Any], names: Sequence[str], input_shape: Sequence[int] | None = None
) -> dict:
    """Cost of ``arch`` cut out of ``model``: any of ``params``, ``flops``, ``latency_ms``.

    Uses ``hyperbox.nas.subnet.build_subnet`` and the ``params``/``flops``/``latency`` estimators
    (imported here, so that the mutator itself stays torch-free). FLOPs and latency need
    ``input_shape``, the shape of one input (C, H, W).
    """
    from hyperbox.nas.estimators import FlopsEstimator, LatencyEstimator, ParamsEstimator
    from hyperbox.nas.subnet import build_subnet

    estimators = {"params": ParamsEstimator, "flops": FlopsEstimator, "latency_ms": LatencyEstimator}
    unknown = [name for name in names if name not in estimators]
    if unknown:
        raise ValueError(
            f"constraint {unknown[0]!r}: estimate_costs knows params, flops and latency_ms; pass constraint_fn"
        )
    if input_shape is None and any(name != "params" for name in names):
        raise ValueError("FLOPs and latency constraints need input_shape (C, H, W of one input)")
    subnet = build_subnet(model, arch)
    costs: dict[str, float] = {}
    for name in names:
        estimator = estimators[name]() if name == "params" else estimators[name](input_shape=input_shape)
        costs[name] = float(estimator(subnet)[name])
    return costs


class EvolutionMutator(Mutator):
    """Regularised (aging) evolution; NSGA-II ranking for several objectives; cost constraints.

    Args:
        model: the model (or space) to search.
        seed: seeds :attr:`rng`, the only source of randomness.
        population_size: members kept alive; the oldest (``"aging"``) or the lowest-ranked
            (``"nsga2"``) dies when a new one is observed beyond this size.
        sample_size: tournament size: a parent is the best of this many random members.
        mutation_prob: probability that each key of the child is changed (at least one is).
        crossover_prob: probability that the child starts as a uniform crossover of two
            tournament winners rather than a copy of one.
        warmup: random architectures asked for before evolving (default ``population_size``).
        constraints: maximum values, e.g. ``{"params": 5e5, "flops": 2e7, "latency_ms": 3.0}``;
            a candidate over any of them is never returned.
        constraint_fn: ``constraint_fn(model, arch_json) -> {name: value}``; the default is
            :func:`estimate_costs` with ``input_shape``.
        input_shape: the shape of one input (C, H, W) for the default FLOPs and latency estimates;
            filled from the dataset by the experiment runner.
        selection: ``"aging"`` or ``"nsga2"``; several objectives always use NSGA-II.
        max_attempts: candidates tried per ask before giving up on the constraints.
    """

    def __init__(
        self,
        model: Any,
        *,
        seed: int | None = None,
        population_size: int = 20,
        sample_size: int = 5,
        mutation_prob: float = 0.1,
        crossover_prob: float = 0.3,
        warmup: int | None = None,
        constraints: Mapping[str, float] | None = None,
        constraint_fn: Callable[[Any, dict], Mapping[str, float]] | None = None,
        input_shape: Sequence[int] | None = None,
        selection: str = "aging",
        max_attempts: int = 100,
    ) -> None:
        super().__init__(model, seed=seed)
        if selection not in ("aging", "nsga2"):
            raise ValueError(f"selection must be 'aging' or 'nsga2', got {selection!r}")
        if population_size < 1 or sample_size < 1 or max_attempts < 1:
            raise ValueError("population_size, sample_size and max_attempts must be at least 1")
        if not (0.0 <= mutation_prob <= 1.0 and 0.0 <= crossover_prob <= 1.0):
            raise ValueError("mutation_prob and crossover_prob must be probabilities in [0, 1]")
        self.population_size = population_size
        self.sample_size = sample_size
        self.mutation_prob = mutation_prob
        self.crossover_prob = crossover_prob
        self.warmup = population_size if warmup is None else warmup
        self.constraints = dict(constraints or {})
        self.constraint_fn = constraint_fn
        self.input_shape = input_shape
        self.selection = selection
        self.max_attempts = max_attempts
        #: evaluated members, oldest first: ``(arch, metrics)`` with canonical decisions
        self.population: deque[tuple[dict, dict]] = deque()
        #: architectures asked for and not observed yet (JSON text -> times asked)
        self.pending: dict[str, int] = {}
        self.num_asked = 0
        self._best: tuple[float, dict] | None = None
        self._costs: dict[str, Mapping[str, float]] = {}

    @property
    def multi_objective(self) -> bool:
        return self.selection == "nsga2" or len(self.objectives) > 1

    # -- ask -------------------------------------------------------------------------------

    def budget_warnings(self, trials: int) -> list[str]:
        if self.warmup >= trials:
            setting = "population_size" if self.warmup == self.population_size else "warmup"
            return [
                f"evolution: its warm-up of {self.warmup} random architectures ({setting}) fills the budget of "
                f"{trials} trials, so it never evolves and searches as random search does; lower {setting} "
                "or raise the budget"
            ]
        return []

    def sample_search(self) -> dict[str, Any]:
        evolving = self.num_asked >= self.warmup and self.population
        for _ in range(self.max_attempts):
            candidate = self._child() if evolving else self.space.sample(self.rng)
            if self._feasible(candidate):
                break
        else:
            raise RuntimeError(
                f"EvolutionMutator: no architecture within the constraints {self.constraints} "
                f"after {self.max_attempts} candidates; relax them or raise max_attempts"
            )
        self.num_asked += 1
        text = self._text(candidate)
        self.pending[text] = self.pending.get(text, 0) + 1
        return candidate

    def _child(self) -> dict[str, Any]:
        ranks = self._ranks()
        parent = self._tournament(ranks)
        if self.rng.random() < self.crossover_prob:
            other = self._tournament(ranks)
            parent = {key: (parent if self.rng.random() < 0.5 else other)[key] for key in parent}
        return self._mutate(parent)

    def _tournament(self, ranks: list[tuple]) -> dict[str, Any]:
        contestants = self.rng.sample(range(len(self.population)), min(self.sample_size, len(self.population)))
        winner = min(contestants, key=lambda i: ranks[i])
        return self.population[winner][0]

    def _ranks(self) -> list[tuple]:
        """Sort key of each member, lower is better; ties go to the younger member."""
        if not self.multi_objective:
            return [(-self.score(metrics), -age) for age, (_, metrics) in enumerate(self.population)]
        values = [self._signed(metrics) for _, metrics in self.population]
        ranks: list[tuple] = [()] * len(values)
        for level, front in enumerate(non_dominated_fronts(values)):
            crowding = crowding_distances(values, front)
            for i in front:
                ranks[i] = (level, -crowding[i], -i)
        return ranks

    def _signed(self, metrics: Mapping[str, float]) -> list[float]:
        return [
            float(metrics[name]) if direction == "maximize" else -float(metrics[name])
            for name, direction in zip(self.objectives, self.directions)
        ]

    def _mutate(self, parent: Mapping[str, Any]) -> dict[str, Any]:
        child = dict(parent)
        # a decision that does not matter (a layer beyond the depth) is not worth a mutation
        changeable = [key for key in self.space.active(child) if _can_change(self.space[key])]
        chosen = [key for key in changeable if self.rng.random() < self.mutation_prob]
        if not chosen and changeable:
            chosen = [self.rng.choice(changeable)]
        for key in chosen:
            child[key] = _neighbour(self.space[key], child[key], self.rng)
        return child

    def _feasible(self, arch: Mapping[str, Any]) -> bool:
        if not self.constraints:
            return True
        text = self._text(arch)
        costs = self._costs.get(text)
        if costs is None:  # measuring cuts a subnet out of the model: once per architecture
            arch_json = self.space.to_json(arch)
            if self.constraint_fn is not None:
                costs = self.constraint_fn(self.model, arch_json)
            else:
                costs = estimate_costs(self.model, arch_json, list(self.constraints), self.input_shape)
            self._costs[text] = costs
        missing = sorted(set(self.constraints) - set(costs))
        if missing:
            raise ValueError(f"constraint_fn returned no value for constraint(s) {missing}")
        return all(float(costs[name]) <= limit for name, limit in self.constraints.items())

    # -- tell ------------------------------------------------------------------------------

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        arch = self.space.validate(arch)
        metrics = dict(metrics)
        self._settle(arch)
        score = self.score(metrics)
        if self._best is None or score > self._best[0]:
            self._best = (score, arch)
        self.population.append((arch, metrics))
        if len(self.population) > self.population_size:
            self._remove_one()

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """A pruned or failed trial is no longer pending; it does not join the population."""
        self._settle(self.space.validate(arch))

    def _settle(self, arch: Mapping[str, Any]) -> None:
        text = self._text(arch)
        if self.pending.get(text, 0) > 1:
            self.pending[text] -= 1
        else:
            self.pending.pop(text, None)

    def _remove_one(self) -> None:
        if not self.multi_objective:
            self.population.popleft()
            return
        ranks = self._ranks()
        # the worst-ranked dies; among equals the oldest, hence max over (rank, age-first index)
        worst = max(range(len(self.population)), key=lambda i: (ranks[i][:2], -i))
        del self.population[worst]

    def sample_final(self) -> dict[str, Any]:
        """The best architecture observed (by the first objective); the current one before any."""
        return dict(self._best[1]) if self._best is not None else super().sample_final()

    def _text(self, arch: Mapping[str, Any]) -> str:
        return json.dumps(self.space.to_json(arch), sort_keys=True)


def _can_change(domain: Domain) -> bool:
    if isinstance(domain, Categorical):
        return domain.n > 1
    if isinstance(domain, Subset):
        return domain.n > 1 and domain.k != domain.n
    return domain.high > domain.low


def _neighbour(domain: Domain, decision: Any, rng) -> Any:
    """A decision different from ``decision``: a re-sample, or a local move for ranges."""
    if isinstance(domain, Categorical):
        return rng.choice([i for i in range(domain.n) if i != decision])
    if isinstance(domain, Subset):
        chosen = set(decision)
        full = domain.most is not None and len(chosen) >= domain.most
        # flip one input, never emptying the set nor choosing more than allowed
        flippable = [i for i in range(domain.n) if (i in chosen and len(chosen) > 1) or (i not in chosen and not full)]
        if domain.k is not None or not flippable:  # swap one chosen input for one left out
            chosen.remove(rng.choice(sorted(chosen)))
            chosen.add(rng.choice([i for i in range(domain.n) if i not in chosen and i not in decision]))
        else:
            chosen ^= {rng.choice(flippable)}
        return tuple(sorted(chosen))
    if isinstance(domain, IntRange):
        count = (domain.high - domain.low) // domain.step + 1
        index = (decision - domain.low) // domain.step
        move = round(rng.gauss(0.0, max(1.0, LOCAL_MOVE_SCALE * count)))
        move = move or rng.choice((-1, 1))
        moved = min(max(index + move, 0), count - 1)
        if moved == index:  # pushed against a bound: step back inside
            moved = index - 1 if index == count - 1 else index + 1
        return domain.low + domain.step * moved
    return _float_move(domain, decision, rng)


def _float_move(domain: FloatRange, decision: float, rng) -> float:
    to_unit = math.log if domain.log else (lambda v: v)
    from_unit = math.exp if domain.log else (lambda v: v)
    low, high = to_unit(domain.low), to_unit(domain.high)
    position = to_unit(decision) + rng.gauss(0.0, LOCAL_MOVE_SCALE * (high - low))
    # reflect at the bounds so that the move stays local instead of piling up on the edge
    while not low <= position <= high:
        position = 2 * low - position if position < low else 2 * high - position
    return min(max(from_unit(position), domain.low), domain.high)
