"""Conformance suites for plugin authors.

Subclass :class:`MutatorTestCase` in your own pytest suite and set ``mutator_factory``::

    from hyperbox.kernel.testing import MutatorTestCase

    class TestMyMutator(MutatorTestCase):
        mutator_factory = MyMutator          # called as MyMutator(model, seed=...)

Every test then runs against your mutator on a torch-free toy space covering every domain.
Set ``domains`` to the domain types your algorithm supports if it cannot search them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Categorical, FloatRange, IntRange, Mutable, Subset

__all__ = ["MutatorTestCase", "ToyMutable", "ToySpace"]


class ToyMutable(Mutable):
    """A torch-free mutable holding nothing but its decision."""

    def __init__(self, key: str | None, domain, mask: Any = None) -> None:
        self.init_mutable(key, domain, mask)


class ToySpace:
    """A container of mutables (anything with ``mutables()`` can be searched)."""

    def __init__(self, mutables: Sequence[ToyMutable]) -> None:
        self._mutables = list(mutables)

    def mutables(self) -> list[ToyMutable]:
        return list(self._mutables)


def toy_space(domains: Sequence[type]) -> ToySpace:
    candidates = {
        Categorical: [("op", Categorical(3)), ("width", Categorical(4, labels=(8, 16, 32, 64)))],
        Subset: [("inputs", Subset(4, 2)), ("skips", Subset(3))],
        IntRange: [("depth", IntRange(1, 9, step=2))],
        FloatRange: [("lr", FloatRange(1e-4, 1e-1, log=True)), ("dropout", FloatRange(0.0, 0.5))],
    }
    mutables = [ToyMutable(key, domain) for kind in domains for key, domain in candidates[kind]]
    first_key, first_domain = candidates[domains[0]][0]
    mutables.append(ToyMutable(first_key, first_domain))  # shares a key: must get the same decision
    return ToySpace(mutables)


def fake_metrics(arch: dict[str, Any]) -> dict[str, float]:
    """A deterministic score for an architecture (for feedback-driven mutators)."""
    text = json.dumps(arch, sort_keys=True)
    return {"accuracy": (sum(map(ord, text)) % 97) / 97.0, "params": float(len(text))}


class MutatorTestCase:
    """The contract every mutator must honour (pytest collects the ``test_*`` methods)."""

    mutator_factory: ClassVar[Callable[..., Mutator]]
    domains: ClassVar[tuple[type, ...]] = (Categorical, Subset, IntRange, FloatRange)
    #: trials run through ``reset``/``observe`` in the longer tests
    trials: ClassVar[int] = 12

    def create_space(self) -> Any:
        """The model to search; override to test on your own space."""
        return toy_space(self.domains)

    def create_mutator(self, model: Any, seed: int = 0) -> Mutator:
        return type(self).mutator_factory(model, seed=seed)

    def _search(self, mutator: Mutator, trials: int) -> list[dict]:
        archs = []
        for _ in range(trials):
            arch = mutator.reset()
            archs.append(dict(arch))
            mutator.observe(mutator.space.to_json(arch), fake_metrics(mutator.space.to_json(arch)))
        return archs

    def test_is_a_mutator(self) -> None:
        assert isinstance(self.create_mutator(self.create_space()), Mutator)

    def test_reset_returns_a_valid_architecture(self) -> None:
        mutator = self.create_mutator(self.create_space())
        for _ in range(self.trials):
            arch = mutator.reset()
            assert set(arch) == set(mutator.space)
            assert mutator.space.validate(arch) == arch

    def test_reset_applies_decisions_and_caches_them(self) -> None:
        mutator = self.create_mutator(self.create_space())
        arch = mutator.reset()
        assert mutator._cache == arch
        for mutable in mutator.mutables:
            assert mutable.decision == arch[mutable.key], mutable.key

    def test_shared_key_gets_one_decision(self) -> None:
        mutator = self.create_mutator(self.create_space())
        mutator.reset()
        by_key: dict[str, list] = {}
        for mutable in mutator.mutables:
            by_key.setdefault(mutable.key, []).append(mutable.decision)
        assert any(len(d) > 1 for d in by_key.values()), "the space should share a key"
        for key, decisions in by_key.items():
            assert all(d == decisions[0] for d in decisions), key

    def test_same_seed_same_search(self) -> None:
        first = self._search(self.create_mutator(self.create_space(), seed=3), self.trials)
        second = self._search(self.create_mutator(self.create_space(), seed=3), self.trials)
        assert first == second

    def test_explores_more_than_one_architecture(self) -> None:
        archs = self._search(self.create_mutator(self.create_space(), seed=1), self.trials)
        assert len({json.dumps(a, sort_keys=True, default=list) for a in archs}) > 1

    def test_export_round_trips_through_json(self) -> None:
        mutator = self.create_mutator(self.create_space())
        self._search(mutator, 3)
        exported = mutator.export()
        loaded = json.loads(json.dumps(exported))
        assert mutator.space.to_json(mutator.space.validate(loaded)) == exported

    def test_restore_continues_where_the_search_stopped(self) -> None:
        reference = self.create_mutator(self.create_space(), seed=5)
        archs = self._search(reference, self.trials // 2)
        space = reference.space
        history = [(space.to_json(a), fake_metrics(space.to_json(a)), "complete") for a in archs]
        resumed = self.create_mutator(self.create_space(), seed=5)
        resumed.restore(history)
        assert self._search(resumed, 3) == self._search(reference, 3)
