"""MOEA/D: multi-objective evolution by decomposition (torch-free).

Zhang & Li, "MOEA/D: A Multiobjective Evolutionary Algorithm Based on Decomposition" (IEEE TEVC
2007), as Hypernets' ``MOEADSearcher``: the objectives are combined into one scalar
sub-problem per weight vector, the weight vectors spread evenly over the simplex (Das & Dennis
1998). Each sub-problem keeps one member and a neighbourhood of the ``n_neighbors``
sub-problems with the closest weights; a child of two members of a neighbourhood (single-point
crossover in the space's key order, then a single-point mutation) replaces the members of that
neighbourhood it beats on the neighbour's own sub-problem, at most ``max_replacements`` of them
(MOEA/D-DE's ``nr``: Li & Zhang, "Multiobjective Optimization Problems With Complicated Pareto
Sets, MOEA/D and NSGA-II", IEEE TEVC 2009), and only if no member holds it already. Neighbours
share good partial solutions, and the population spreads along the Pareto front, one member per
direction, without collapsing onto one architecture: each architecture holds at most
``max_replacements`` sub-problems.

The kernel asks and tells separately, and several trials may be out at once: the population is
filled with random architectures, then children are asked for the sub-problems in turn, and
each child competes in its sub-problem's neighbourhood when its metrics arrive. A result the
mutator did not ask for (another worker's, a replayed one) competes in the neighbourhood of the
sub-problem it improves most. A resumed search replays its history (:meth:`Mutator.restore`);
where trials were out at once, the replayed asks differ from the architectures recorded, and the
replay then forgets them (no result will come for them).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Domain, default_decision
from hyperbox.nas.mutators._evolution import _can_change

__all__ = ["MOEADMutator", "weight_vectors"]

DECOMPOSITIONS = ("tchebicheff", "weighted_sum", "pbi")

#: Further single-point mutations a child gets while it repeats an architecture asked for or
#: observed before (evaluating it again would teach nothing, and a population whose children are
#: all repeats would stay as it is); a child still repeating one after them is asked for as it is.
REMUTATIONS = 10

#: Weight given to an objective whose weight is 0 in Tchebicheff's decomposition, so that an
#: extreme sub-problem still prefers the better of two solutions equal on its own objective.
ZERO_WEIGHT = 1e-4


def weight_vectors(divisions: int, objectives: int) -> list[tuple[float, ...]]:
    """Every weight vector whose weights are multiples of ``1 / divisions`` summing to 1
    (Das & Dennis' simplex lattice): ``C(divisions + objectives - 1, objectives - 1)`` of them."""
    vectors = []
    for cuts in itertools.combinations(range(divisions + objectives - 1), objectives - 1):
        bounds = (-1, *cuts, divisions + objectives - 1)
        vectors.append(tuple((high - low - 1) / divisions for low, high in zip(bounds, bounds[1:])))
    return vectors


def _another(domain: Domain, decision: Any, rng) -> Any:
    """A value of ``domain`` (one with several) other than ``decision``, drawn uniformly."""
    while (value := domain.sample(rng)) == decision:
        pass
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class MOEADMutator(Mutator):
    """MOEA/D over the search's objectives, as Hypernets' ``MOEADSearcher``.

    The population holds one member per weight vector: ``C(divisions + m - 1, m - 1)`` for
    ``m`` objectives (``divisions + 1`` for two). With one objective every sub-problem has the
    weight 1 and ``divisions + 1`` members evolve side by side, each neighbourhood a few adjacent
    members: a steady-state (μ+λ)-like evolution in which a child replaces (up to
    ``max_replacements`` of) the neighbours it beats. Objectives are compared after scaling each
    by the distance from the best value observed (the ideal point) to the worst of the
    population, so that objectives in different units weigh alike.

    Args:
        model: the model (or space) to search.
        seed: seeds :attr:`rng`, the only source of randomness.
        divisions: steps of each weight from 0 to 1 (Hypernets' ``n_sampling``); sets the
            population size.
        n_neighbors: sub-problems in a neighbourhood (the sub-problem itself included): parents
            come from it and a child may replace any of its members; at most ``divisions + 1``.
        decomposition: how a sub-problem scalarises the (scaled, minimised) objectives ``f``
            with its weights ``w``: ``"tchebicheff"`` ``max_i w_i f_i``, ``"weighted_sum"``
            ``sum_i w_i f_i``, or ``"pbi"`` (penalty-based boundary intersection) the distance
            along ``w`` plus ``penalty`` times the distance from the line of ``w``.
        penalty: PBI's penalty θ (0.5 as Hypernets; Zhang & Li used 5, which pulls each member
            closer to its weight's line and converges more slowly); only ``"pbi"`` uses it.
        mutation_prob: probability that a child is mutated after the crossover; a child equal
            to one of its parents always is.
        max_replacements: how many members of its neighbourhood a child may replace at most
            (MOEA/D-DE's ``nr``, 2 as Li & Zhang), the closest sub-problems first; a child that a
            member holds already replaces none. Without this cap a good child takes its whole
            neighbourhood, and a few such children leave the population holding one
            architecture many times over (one objective: every sub-problem is the same).
    """

    def __init__(
        self,
        model: Any,
        *,
        seed: int | None = None,
        divisions: int = 5,
        n_neighbors: int = 3,
        decomposition: str = "tchebicheff",
        penalty: float = 0.5,
        mutation_prob: float = 0.7,
        max_replacements: int = 2,
    ) -> None:
        super().__init__(model, seed=seed)
        if isinstance(divisions, bool) or not isinstance(divisions, int) or divisions < 1:
            raise ValueError(f"divisions must be an integer >= 1, got {divisions!r}")
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, int) or not 2 <= n_neighbors <= divisions + 1:
            raise ValueError(
                f"n_neighbors must be an integer from 2 to divisions + 1 = {divisions + 1}, got {n_neighbors!r}"
            )
        if decomposition not in DECOMPOSITIONS:
            raise ValueError(f"decomposition must be one of {', '.join(DECOMPOSITIONS)}; got {decomposition!r}")
        if not (_is_number(penalty) and 0 <= penalty < math.inf):
            raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
        if not (_is_number(mutation_prob) and 0 <= mutation_prob <= 1):
            raise ValueError(f"mutation_prob must be a probability in [0, 1], got {mutation_prob!r}")
        if isinstance(max_replacements, bool) or not isinstance(max_replacements, int) or max_replacements < 1:
            raise ValueError(f"max_replacements must be an integer >= 1, got {max_replacements!r}")
        self.divisions = divisions
        self.n_neighbors = n_neighbors
        self.decomposition = decomposition
        self.penalty = float(penalty)
        self.mutation_prob = float(mutation_prob)
        self.max_replacements = max_replacements
        #: architectures asked for and not told yet (JSON text -> the sub-problem of each ask,
        #: None for a random one)
        self.pending: dict[str, list[int | None]] = {}
        #: JSON text of every architecture asked for or observed
        self._known: set[str] = set()
        self._ideal: list[float] | None = None
        self._best: tuple[float, dict] | None = None
        self._decompose()

    def set_objectives(self, objectives: Sequence[str], directions: Sequence[str]) -> None:
        super().set_objectives(objectives, directions)
        self._decompose()

    def _decompose(self) -> None:
        """One sub-problem per weight vector of the objectives, each with its neighbourhood."""
        if len(self.objectives) == 1:
            self.weights = [(1.0,)] * (self.divisions + 1)
        else:
            self.weights = weight_vectors(self.divisions, len(self.objectives))

        def distance(i: int, j: int) -> tuple[float, int]:  # equal weights: the nearest indices
            return math.dist(self.weights[i], self.weights[j]), abs(i - j)

        count = len(self.weights)
        self.neighbours = [sorted(range(count), key=lambda j: distance(i, j))[: self.n_neighbors] for i in range(count)]
        #: each sub-problem's member: ``(arch, f)``, ``f`` the objectives to minimise; None until filled
        self.members: list[tuple[dict[str, Any], tuple[float, ...]] | None] = [None] * count
        self._turn = 0  # the sub-problem whose child is asked for next

    @property
    def population_size(self) -> int:
        return len(self.weights)

    # -- ask -------------------------------------------------------------------------------

    def budget_warnings(self, trials: int) -> list[str]:
        if self.population_size >= trials:
            return [
                f"moead: its initial population of {self.population_size} random architectures (one per weight "
                f"vector) fills the budget of {trials} trials, so it never evolves and searches as random search "
                "does; lower divisions or raise the budget"
            ]
        return []

    def sample_search(self) -> dict[str, Any]:
        if None in self.members:
            origin, arch = None, self._complete(self.space.sample(self.rng), set(self.space))
        else:
            origin, self._turn = self._turn, (self._turn + 1) % self.population_size
            arch = self._child(origin)
        text = self._text(arch)
        self.pending.setdefault(text, []).append(origin)
        self._known.add(text)
        return arch

    def _child(self, problem: int) -> dict[str, Any]:
        first, second = (self.members[j][0] for j in self.rng.sample(self.neighbours[problem], 2))
        child = self._crossover(first, second)
        if child in (first, second) or self.rng.random() < self.mutation_prob:
            child = self._mutate(child)
        for _ in range(REMUTATIONS):
            if self._text(child) not in self._known:
                break
            child = self._mutate(child)
        return child

    def _crossover(self, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        """The keys before a random cut from ``first``, the others from ``second``; a key active
        in the child that its donor left inactive comes from the other parent if active there."""
        keys = list(self.space)
        cut = self.rng.randrange(1, len(keys)) if len(keys) > 1 else len(keys)
        parents = [(first, set(self.space.active(first))), (second, set(self.space.active(second)))]
        child: dict[str, Any] = {}
        known: set[str] = set()
        for position, key in enumerate(keys):
            (donor, donor_active), (other, other_active) = parents if position < cut else parents[::-1]
            child[key] = other[key] if key not in donor_active and key in other_active else donor[key]
            if key in donor_active or key in other_active:
                known.add(key)
        return self._complete(child, known)

    def _mutate(self, arch: dict[str, Any]) -> dict[str, Any]:
        """``arch`` with one active key drawn again, to another value (if any key can change).

        As Hypernets' single-point mutation, the new value is uniform over the domain, not a
        local move: a member's neighbours in weight space hold its local variations already.
        """
        active = self.space.active(arch)
        changeable = [key for key in active if _can_change(self.space[key])]
        if not changeable:
            return arch
        key = self.rng.choice(changeable)
        return self._complete({**arch, key: _another(self.space[key], arch[key], self.rng)}, set(active))

    def _complete(self, arch: dict[str, Any], known: set[str]) -> dict[str, Any]:
        """``arch`` made canonical in the space's order: an inactive key gets its default, an
        active key not in ``known`` (it was inactive where its decision came from) a random one."""
        if not self.space.conditional:
            return arch
        complete: dict[str, Any] = {}
        for key in self.space:
            if key not in self.space.active(complete):  # its conditions name keys before it only
                complete[key] = default_decision(self.space[key])
            else:
                complete[key] = arch[key] if key in known else self.space[key].sample(self.rng)
        return complete

    # -- tell ------------------------------------------------------------------------------

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        arch = self._complete(self.space.validate(arch), set(self.space))
        f = tuple(
            -float(metrics[name]) if direction == "maximize" else float(metrics[name])
            for name, direction in zip(self.objectives, self.directions)
        )
        if self._best is None or self.score(metrics) > self._best[0]:
            self._best = (self.score(metrics), arch)
        self._ideal = list(f) if self._ideal is None else [min(a, b) for a, b in zip(self._ideal, f)]
        origin = self._settle(arch)
        self._known.add(self._text(arch))
        if any(member is not None and member[0] == arch for member in self.members):
            return  # held already: it takes no more sub-problems, so the population stays diverse
        if None in self.members:
            self.members[self.members.index(None)] = (arch, f)
            return
        scale = self._scale(f)
        if origin is None:  # not asked for a sub-problem: where it improves most
            origin = min(
                range(self.population_size),
                key=lambda i: self._g(f, i, scale) - self._g(self.members[i][1], i, scale),
            )
        replaced = 0
        for j in self.neighbours[origin]:  # the closest sub-problems first
            if replaced == self.max_replacements:
                break
            if self._g(f, j, scale) < self._g(self.members[j][1], j, scale):
                self.members[j] = (arch, f)
                replaced += 1

    def restore(self, history: Sequence[tuple[Mapping[str, Any], Mapping[str, float], str]]) -> None:
        """Replay ``history`` (see :meth:`Mutator.restore`), then forget the replayed asks that no
        recorded result answered: they are pending no more, nor known unless recorded."""
        super().restore(history)
        told = {self._text(self._complete(self.space.validate(arch), set(self.space))) for arch, _, _ in history}
        self._known -= set(self.pending) - told
        self.pending.clear()  # nothing is out before the resumed search asks

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """A pruned or failed trial is no longer pending; it does not join the population."""
        self._settle(self._complete(self.space.validate(arch), set(self.space)))

    def _settle(self, arch: Mapping[str, Any]) -> int | None:
        """Forget one pending ask of ``arch``; the sub-problem it was asked for (None: none)."""
        text = self._text(arch)
        origins = self.pending.get(text)
        if not origins:
            return None
        origin = origins.pop(0)
        if not origins:
            del self.pending[text]
        return origin

    def _scale(self, f: tuple[float, ...]) -> list[float]:
        """Per objective, the distance from the ideal point to the worst of the population and
        ``f`` (1 where they are all ideal)."""
        worst = [max(values) for values in zip(f, *(member[1] for member in self.members))]
        return [(high - low) or 1.0 for high, low in zip(worst, self._ideal)]

    def _g(self, f: tuple[float, ...], problem: int, scale: list[float]) -> float:
        """Sub-problem ``problem``'s value of the objectives ``f`` (lower is better)."""
        scaled = [(value - ideal) / s for value, ideal, s in zip(f, self._ideal, scale)]
        weights = self.weights[problem]
        if self.decomposition == "tchebicheff":
            return max((w or ZERO_WEIGHT) * value for w, value in zip(weights, scaled))
        if self.decomposition == "weighted_sum":
            return sum(w * value for w, value in zip(weights, scaled))
        norm = math.sqrt(sum(w * w for w in weights))
        along = sum(w * value for w, value in zip(weights, scaled)) / norm
        away = math.dist(scaled, [along * w / norm for w in weights])
        return along + self.penalty * away

    def sample_final(self) -> dict[str, Any]:
        """The best architecture observed (by the first objective); the current one before any."""
        return dict(self._best[1]) if self._best is not None else super().sample_final()

    def _text(self, arch: Mapping[str, Any]) -> str:
        return json.dumps(self.space.to_json(arch), sort_keys=True)
