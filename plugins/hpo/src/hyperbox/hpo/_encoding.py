"""Kernel domains as Optuna parameters, and back.

Each key of the search space becomes one or more Optuna parameters:

- :class:`Categorical` -> one ``CategoricalDistribution`` over the values the candidates stand
  for (``optimizer: adamw``, ``kernel_size: 5``), so that optuna-dashboard shows values; over the
  indices when the labels are not distinct numbers, strings, booleans or None.
- :class:`IntRange` -> ``IntDistribution(low, high, step)``.
- :class:`FloatRange` -> ``FloatDistribution(low, high, log)``.
- :class:`Subset` -> when the subsets are few (at most :data:`MAX_ENUMERATED_SUBSETS`), one
  ``CategoricalDistribution`` over their indices, so TPE learns which combination is good and
  grid/brute-force samplers can enumerate them. Otherwise one ``FloatDistribution(0, 1)`` score
  per candidate (``key[i]``): a ``k``-subset takes the ``k`` highest scores, an any-size subset
  takes the scores of at least 0.5 (the highest alone if none is). Scores are continuous, so
  CMA-ES and GP model them and TPE learns per-candidate preferences; every score vector decodes
  to a valid subset, so no repair step makes the stored parameters disagree with the
  architecture that was trained.

In a space with conditional decisions, only the active keys are Optuna parameters of a trial
(define-by-run, as an Optuna objective suggests them); the inactive ones decode to their default.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hyperbox.kernel.space import Categorical, FloatRange, IntRange, SearchSpace, Subset, default_decision, value_of

#: Largest number of subsets enumerated as one categorical parameter.
MAX_ENUMERATED_SUBSETS = 32


def subset_count(domain: Subset) -> int:
    return sum(math.comb(domain.n, size) for size in domain.sizes())


def enumerate_subsets(domain: Subset) -> list[tuple[int, ...]]:
    """Every subset of ``domain``, smallest first, in lexicographic order within a size."""
    return [combo for size in domain.sizes() for combo in itertools.combinations(range(domain.n), size)]


def _score_name(key: str, index: int) -> str:
    return f"{key}[{index}]"


class SpaceEncoding:
    """The Optuna parameters of a :class:`SearchSpace` and the conversions in both directions."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._subsets: dict[str, list[tuple[int, ...]]] = {}
        #: the Optuna choices of each categorical key, by candidate index
        self._choices: dict[str, list[Any]] = {}
        self.distributions: dict[str, BaseDistribution] = {}
        #: the Optuna parameters of each key
        self.names: dict[str, list[str]] = {}
        for key, domain in space.items():
            self.names[key] = []
            for name, distribution in self._encode_domain(key, domain):
                self.distributions[name] = distribution
                self.names[key].append(name)

    def _encode_domain(self, key: str, domain: Any) -> Iterator[tuple[str, BaseDistribution]]:
        if isinstance(domain, Categorical):
            self._choices[key] = _choices(domain)
            yield key, CategoricalDistribution(self._choices[key])
        elif isinstance(domain, IntRange):
            yield key, IntDistribution(domain.low, domain.high, step=domain.step)
        elif isinstance(domain, FloatRange):
            yield key, FloatDistribution(domain.low, domain.high, log=domain.log)
        elif self.is_enumerated(domain):
            self._subsets[key] = enumerate_subsets(domain)
            yield key, CategoricalDistribution(list(range(len(self._subsets[key]))))
        else:
            for index in range(domain.n):
                yield _score_name(key, index), FloatDistribution(0.0, 1.0)

    @staticmethod
    def is_enumerated(domain: Subset) -> bool:
        return subset_count(domain) <= MAX_ENUMERATED_SUBSETS

    def finite_values(self, key: str) -> list | None:
        """Every parameter value of ``key`` (for grid search), or None if it is continuous."""
        distribution = self.distributions.get(key)
        if isinstance(distribution, CategoricalDistribution):
            return list(distribution.choices)
        if isinstance(distribution, IntDistribution):
            return list(range(distribution.low, distribution.high + 1, distribution.step))
        return None

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The architecture (canonical decisions) that Optuna ``params`` stand for; a key without
        its parameters (inactive) gets its default."""
        return {
            key: self.decode_key(key, params) if all(n in params for n in self.names[key]) else default_decision(domain)
            for key, domain in self.space.items()
        }

    def decode_key(self, key: str, params: Mapping[str, Any]) -> Any:
        """The decision of ``key`` that Optuna ``params`` stand for."""
        domain = self.space[key]
        if isinstance(domain, Subset):
            return self._decode_subset(key, domain, params)
        if isinstance(domain, FloatRange):
            return float(params[key])
        if isinstance(domain, Categorical):
            return self._choices[key].index(params[key])
        return int(params[key])

    def _decode_subset(self, key: str, domain: Subset, params: Mapping[str, Any]) -> tuple[int, ...]:
        if key in self._subsets:
            return self._subsets[key][params[key]]
        scores = [params[_score_name(key, i)] for i in range(domain.n)]
        by_score = sorted(range(domain.n), key=lambda i: (-scores[i], i))
        if domain.k is not None:
            return tuple(sorted(by_score[: domain.k]))
        return domain.keep((i for i in range(domain.n) if scores[i] >= 0.5), by_score) or (by_score[0],)

    def encode(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna ``params`` for an architecture in any accepted form (used to replay history)."""
        params: dict[str, Any] = {}
        decisions = self.space.validate(arch)
        for key in self.space.active(decisions):
            params.update(self.encode_decision(key, decisions[key]))
        return params

    def encode_value(self, key: str, value: Any) -> dict[str, Any]:
        """The Optuna parameters of a value a user wrote (``adamw`` for a categorical labelled so;
        an index otherwise)."""
        choices = self._choices.get(key)
        if choices is not None and choices != list(range(len(choices))) and value in choices:
            return {key: value}
        return self.encode_decision(key, value)

    def encode_decision(self, key: str, decision: Any) -> dict[str, Any]:
        """The Optuna parameters of one decision of ``key``."""
        domain = self.space[key]
        decision = domain.normalize(decision, key)
        if key in self._subsets:
            return {key: self._subsets[key].index(decision)}
        if isinstance(domain, Subset):
            return {_score_name(key, i): 1.0 if i in decision else 0.0 for i in range(domain.n)}
        if isinstance(domain, Categorical):
            return {key: self._choices[key][decision]}
        return {key: decision}


def _choices(domain: Categorical) -> list[Any]:
    """The values a categorical's candidates stand for, when Optuna can hold them as distinct
    choices (``True`` and ``1`` are equal to Optuna, so they count as one); else the indices."""
    values = [value_of(domain, index) for index in range(domain.n)]
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
        return list(range(domain.n))  # lists (tuples, permutations) are not Optuna choices
    distinct = len({(type(v), v) for v in values}) == len(values) and len(set(map(repr, values))) == len(values)
    return values if distinct and len(set(values)) == len(values) else list(range(domain.n))
