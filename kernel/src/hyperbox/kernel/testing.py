"""Conformance suites for plugin authors: subclass one in your own pytest suite (pytest is
imported only by the tests that need it, so the toy spaces import without it).

- :class:`MutatorTestCase`: set ``mutator_factory`` (called as ``factory(model, seed=...)``); every
  test runs against your mutator on a torch-free toy space covering every domain (set
  ``domains`` to the domain types your algorithm supports if it cannot search them all)::

      from hyperbox.kernel.testing import MutatorTestCase

      class TestMyMutator(MutatorTestCase):
          mutator_factory = MyMutator

- :class:`LedgerTestCase`: implement ``create_ledger`` (and ``join_ledger`` for a storage shared
  by workers) for your storage's ledger.
- :class:`TrainerTestCase` and :class:`EstimatorTestCase`: set the factory and give a small space
  and data set; the suites call your component as the engine does, through a
  :class:`~hyperbox.kernel.Context`.

Each test's docstring says what it checks.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from hyperbox.kernel.context import Context
from hyperbox.kernel.engine import seed_everything
from hyperbox.kernel.errors import TrialPruned
from hyperbox.kernel.ledger import Claim
from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Categorical, FloatRange, IntRange, Mutable, SearchSpace, Subset
from hyperbox.kernel.trial import Trial, TrialRecord

__all__ = [
    "EstimatorTestCase",
    "LedgerTestCase",
    "MutatorTestCase",
    "ToyMutable",
    "ToySpace",
    "TrainerTestCase",
    "make_context",
]


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
    """The contract every mutator must honour (pytest collects the ``test_*`` methods).

    It checks that :meth:`~hyperbox.kernel.Mutator.reset` returns valid architectures, applies them
    to every mutable (one decision per shared key) and caches them; that a seed reproduces a search
    and that :meth:`~hyperbox.kernel.Mutator.restore` continues it exactly; that the search
    explores; that :meth:`~hyperbox.kernel.Mutator.observe` and
    :meth:`~hyperbox.kernel.Mutator.discard` take every result the engine may give (complete,
    pruned and failed trials, and results of architectures it did not propose); that a claim's
    architecture is applied as it is; and that :meth:`~hyperbox.kernel.Mutator.export` round-trips
    through JSON.
    """

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
        """``trials`` proposals, each fed back as the engine does; every third one fails."""
        archs = []
        for number in range(trials):
            arch = mutator.reset()
            archs.append(dict(arch))
            as_json = mutator.space.to_json(arch)
            if number % 3 == 2:
                mutator.discard(as_json, "failed")
            else:
                mutator.observe(as_json, fake_metrics(as_json))
        return archs

    def test_is_a_mutator(self) -> None:
        """It subclasses :class:`hyperbox.kernel.Mutator`."""
        assert isinstance(self.create_mutator(self.create_space()), Mutator)

    def test_reset_returns_a_valid_architecture(self) -> None:
        """Every proposal decides every key, within its domain."""
        mutator = self.create_mutator(self.create_space())
        for _ in range(self.trials):
            arch = mutator.reset()
            assert set(arch) == set(mutator.space)
            assert mutator.space.validate(arch) == arch

    def test_reset_applies_decisions_and_caches_them(self) -> None:
        """The proposal is applied to every mutable and kept in ``_cache``."""
        mutator = self.create_mutator(self.create_space())
        arch = mutator.reset()
        assert mutator._cache == arch
        for mutable in mutator.mutables:
            assert mutable.decision == arch[mutable.key], mutable.key

    def test_shared_key_gets_one_decision(self) -> None:
        """Mutables sharing a key get the same decision."""
        mutator = self.create_mutator(self.create_space())
        mutator.reset()
        by_key: dict[str, list] = {}
        for mutable in mutator.mutables:
            by_key.setdefault(mutable.key, []).append(mutable.decision)
        assert any(len(d) > 1 for d in by_key.values()), "the space should share a key"
        for key, decisions in by_key.items():
            assert all(d == decisions[0] for d in decisions), key

    def test_same_seed_same_search(self) -> None:
        """The same seed and the same feedback give the same proposals."""
        first = self._search(self.create_mutator(self.create_space(), seed=3), self.trials)
        second = self._search(self.create_mutator(self.create_space(), seed=3), self.trials)
        assert first == second

    def test_explores_more_than_one_architecture(self) -> None:
        """The search does not propose one architecture only."""
        archs = self._search(self.create_mutator(self.create_space(), seed=1), self.trials)
        assert len({json.dumps(a, sort_keys=True, default=list) for a in archs}) > 1

    def test_observe_and_discard_take_every_kind_of_result(self) -> None:
        """Results of complete, pruned and failed trials are taken, for proposed architectures and
        for architectures found elsewhere (another worker's), and the search goes on."""
        mutator = self.create_mutator(self.create_space(), seed=2)
        other = self.create_space()
        foreign = SearchSpace.of(other).to_json(SearchSpace.of(other).sample(random.Random(9)))
        for state in ("complete", "pruned", "failed"):
            arch = mutator.space.to_json(mutator.reset())
            if state == "complete":
                mutator.observe(arch, fake_metrics(arch))
            else:
                mutator.discard(arch, state)
        mutator.observe(foreign, fake_metrics(foreign))
        mutator.discard(foreign, "failed")
        assert set(mutator.space.validate(mutator.reset())) == set(mutator.space)  # it still proposes whole ones

    def test_a_claimed_architecture_is_applied_as_it_is(self) -> None:
        """A claim that retries a lost trial carries its architecture; ``reset(claim)`` applies it."""
        mutator = self.create_mutator(self.create_space(), seed=4)
        wanted = mutator.space.to_json(mutator.space.sample(random.Random(7)))
        applied = mutator.reset(Claim(0, arch=wanted))
        assert mutator.space.to_json(applied) == wanted

    def test_export_round_trips_through_json(self) -> None:
        """The exported architecture is JSON that loads back into the space."""
        mutator = self.create_mutator(self.create_space())
        self._search(mutator, 3)
        exported = mutator.export()
        loaded = json.loads(json.dumps(exported))
        assert mutator.space.to_json(mutator.space.validate(loaded)) == exported

    def test_restore_continues_where_the_search_stopped(self) -> None:
        """A mutator restored from a search's history proposes what the search would have next."""
        reference = self.create_mutator(self.create_space(), seed=5)
        archs = self._search(reference, self.trials // 2)
        space = reference.space
        history = [
            (
                space.to_json(a),
                fake_metrics(space.to_json(a)) if n % 3 != 2 else {},
                "complete" if n % 3 != 2 else "failed",
            )
            for n, a in enumerate(archs)
        ]
        resumed = self.create_mutator(self.create_space(), seed=5)
        resumed.restore(history)
        assert self._search(resumed, 3) == self._search(reference, 3)


# -- ledgers --------------------------------------------------------------------------------------
def _finished(claim: Claim, arch: Mapping[str, Any], state: str = "complete") -> TrialRecord:
    """The record the engine makes of a claimed trial that ended in ``state``."""
    metrics = {"accuracy": claim.number / 10} if state == "complete" else {}
    return TrialRecord(claim.number, dict(arch), seed=claim.number, state=state, metrics=metrics, duration_s=0.01)


def _run(ledger: Any, claim: Claim, state: str = "complete") -> TrialRecord:
    """Start and finish ``claim`` as the engine does (with the architecture it carries, if any);
    the final record."""
    record = _finished(claim, claim.arch or {"op": claim.number}, state)
    ledger.start(attrs.evolve(record, state="running", metrics={}))
    ledger.finish(record)
    return record


class LedgerTestCase:
    """The contract of a ledger (see :mod:`hyperbox.kernel.ledger`).

    Implement :meth:`create_ledger`; for a storage shared by workers also :meth:`join_ledger`
    (then the sharing tests run) and, if lost trials are retried, :meth:`lose` (then the retry
    test runs). It checks that claims are numbered once each and stop at the trial budget and at
    the time budget; that several claims may be open at once and end in any order; that a released
    claim is claimed again; that ``finish`` and
    ``others`` hand every finished trial (its architecture, state and metrics) to every other
    worker once; that workers sharing a record share its budget; and that a lost trial comes
    back, with its architecture, in a later claim.
    """

    #: the ledger is shared by workers (implement join_ledger)
    shared: ClassVar[bool] = False
    #: a trial whose worker is lost is claimed again (implement lose)
    retries: ClassVar[bool] = False

    def create_ledger(self, trials: int | None, seconds: float | None = None) -> Any:
        """A new ledger for a search of ``trials`` trials and/or ``seconds`` seconds."""
        raise NotImplementedError

    def join_ledger(self, ledger: Any) -> Any:
        """Another worker's ledger on the same record as ``ledger`` (shared ledgers)."""
        raise NotImplementedError

    def lose(self, ledger: Any) -> None:
        """Make ``ledger``'s running trial lost, as when its worker is killed (wait until it is)."""
        raise NotImplementedError

    def _drain(self, ledger: Any) -> list[int]:
        """Run every claim the ledger gives; the numbers claimed."""
        numbers = []
        while (claim := ledger.claim()) is not None:
            numbers.append(_run(ledger, claim).number)
        return numbers

    def test_claims_are_numbered_once_each_up_to_the_budget(self) -> None:
        """Claims get the numbers 0, 1, 2, ... once each, and None once the budget is spent."""
        ledger = self.create_ledger(4)
        try:
            assert sorted(self._drain(ledger)) == [0, 1, 2, 3]
            assert ledger.claim() is None
        finally:
            ledger.close()

    def test_several_claims_may_be_open_and_end_in_any_order(self) -> None:
        """An ask-and-tell user may hold several trials: each claim starts and finishes on its own."""
        ledger = self.create_ledger(3)
        try:
            claims = [ledger.claim() for _ in range(3)]
            assert sorted(c.number for c in claims) == [0, 1, 2]
            for claim in claims:
                ledger.start(TrialRecord(claim.number, {"op": claim.number}, seed=claim.number))
            for claim in reversed(claims):
                ledger.finish(_finished(claim, {"op": claim.number}))
            assert ledger.claim() is None
        finally:
            ledger.close()

    def test_a_fresh_claim_carries_no_architecture(self) -> None:
        """A first claim lets the search algorithm propose (``arch`` None)."""
        ledger = self.create_ledger(1)
        try:
            claim = ledger.claim()
            assert isinstance(claim, Claim) and claim.arch is None
        finally:
            ledger.close()

    def test_a_released_claim_is_claimed_again(self) -> None:
        """A claim given back unstarted does not spend the budget: a later claim takes its number."""
        ledger = self.create_ledger(2)
        try:
            first = ledger.claim()
            ledger.release(first)
            assert sorted(self._drain(ledger)) == [0, 1]
            assert ledger.claim() is None
        finally:
            ledger.close()

    def test_the_time_budget_ends_the_claims(self) -> None:
        """No claim once the budget's seconds have passed."""
        ledger = self.create_ledger(None, seconds=0.3)
        try:
            assert ledger.claim() is not None
            time.sleep(0.4)
            assert ledger.claim() is None
        finally:
            ledger.close()

    def test_it_has_an_experiment_and_a_study(self) -> None:
        """``experiment`` (a mapping) and ``study`` (the storage's own record, or None) exist."""
        ledger = self.create_ledger(1)
        try:
            assert isinstance(ledger.experiment, Mapping)
            assert hasattr(ledger, "study")
        finally:
            ledger.close()

    def test_workers_share_the_budget(self) -> None:
        """Two workers on one record claim disjoint numbers that make up the budget together."""
        import pytest

        if not self.shared:
            pytest.skip("not a shared ledger")
        first = self.create_ledger(6)
        second = self.join_ledger(first)
        try:
            numbers = []
            for _ in range(3):
                for ledger in (first, second):
                    numbers.append(_run(ledger, ledger.claim()).number)
            assert sorted(numbers) == list(range(6))
            assert first.claim() is None and second.claim() is None
        finally:
            first.close()
            second.close()

    def test_others_hands_each_finished_trial_to_the_other_workers_once(self) -> None:
        """A trial one worker finishes reaches the other's ``others()`` once, whole, and never its own."""
        import pytest

        if not self.shared:
            pytest.skip("not a shared ledger")
        first = self.create_ledger(3)
        second = self.join_ledger(first)
        try:
            records = []
            for state in ("complete", "pruned", "failed"):
                records.append(_run(first, first.claim(), state))
            assert first.others() == []
            seen = second.others()
            assert sorted((t.number, t.arch, t.state, t.metrics) for t in seen) == sorted(
                (t.number, t.arch, t.state, t.metrics) for t in records
            )
            assert second.others() == []
        finally:
            first.close()
            second.close()

    def test_a_lost_trial_is_claimed_again_with_its_architecture(self) -> None:
        """A trial whose worker was lost comes back in a later claim, carrying its architecture."""
        import pytest

        if not self.retries:
            pytest.skip("this ledger does not retry lost trials")
        first = self.create_ledger(1)
        second = self.join_ledger(first)
        try:
            claim = first.claim()
            lost = TrialRecord(claim.number, {"op": 7}, seed=0)
            first.start(lost)
            self.lose(first)
            retry = second.claim()
            assert retry is not None and retry.arch == {"op": 7}
            _run(second, retry)
            assert second.claim() is None
        finally:
            first.close()
            second.close()


# -- trainers and estimators ----------------------------------------------------------------------
class _Log:
    """An event log that keeps the events (for checks)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def make_context(
    model: Any,
    arch: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    directory: str | os.PathLike | None = None,
    resumed: bool = False,
    on_report: Callable[[int, dict[str, float]], None] | None = None,
) -> Context:
    """A :class:`~hyperbox.kernel.Context` as the engine makes it: for trial 0 of ``arch`` (JSON
    form), or for a trainer's ``fit`` phase when ``arch`` is None. ``on_report(epoch, metrics)``
    sees each report and may raise :class:`~hyperbox.kernel.TrialPruned`."""
    report = on_report or (lambda epoch, metrics: None)
    trial = None
    if arch is not None:
        values = SearchSpace.of(model).values_of(arch)
        trial = Trial(0, dict(arch), values, seed, lambda _: model, lambda _, epoch, metrics: report(epoch, metrics))
    return Context(
        seed=seed,
        device="cpu",
        log=_Log(),
        trial=trial,
        resumed=resumed,
        directory=None if directory is None else Path(directory),
        on_report=None if trial is not None else report,
    )


class TrainerTestCase:
    """The contract of a trainer (see ``hyperbox_register_trainers``).

    Set ``trainer_factory`` (called with no arguments; override :meth:`create_trainer` to give
    some) and implement :meth:`create_space` and :meth:`create_data` (small: each test trains).
    A trainer with a search phase (``fit``) gets a mutator from :meth:`create_mutator`.
    It checks that ``trial`` returns a model for the architecture, reporting epochs 0, 1, 2, ...
    with numeric metrics; that the trial's seed makes it reproducible; that a pruning decision
    (:class:`~hyperbox.kernel.TrialPruned` from ``context.report``) ends it; that a search kept in
    memory (no run directory) writes no file; and that a search phase's state is saved in the run
    directory and loaded back when the search resumes.
    """

    trainer_factory: ClassVar[Callable[..., Any]]

    def create_trainer(self) -> Any:
        return type(self).trainer_factory()

    def create_space(self) -> Any:
        """A small model with mutables."""
        raise NotImplementedError

    def create_data(self) -> Any:
        """A small data set, as the trainer expects it."""
        raise NotImplementedError

    def create_mutator(self, model: Any) -> Mutator:
        """The mutator a search phase (``fit``) works with (default: uniform sampling)."""
        return _Uniform(model, seed=0)

    def _trained(self, directory: str | os.PathLike | None = None, on_report: Callable | None = None) -> tuple:
        seed_everything(0)  # as the engine seeds a search before building it, and each trial
        model, data, trainer = self.create_space(), self.create_data(), self.create_trainer()
        fit = getattr(trainer, "fit", None)
        mutator = self.create_mutator(model)
        if fit is not None:
            fit(model, mutator, data, make_context(model, directory=directory))
        arch = mutator.reset()
        seed_everything(11)
        reports: list[tuple[int, dict[str, float]]] = []

        def record(epoch: int, metrics: dict[str, float]) -> None:
            reports.append((epoch, metrics))
            if on_report is not None:
                on_report(epoch, metrics)

        context = make_context(model, mutator.space.to_json(arch), seed=11, directory=directory, on_report=record)
        return trainer.trial(model, arch, data, context), reports

    def test_trial_returns_a_model_and_reports_each_epoch(self) -> None:
        """``trial`` returns the model to measure; reports come for epochs 0, 1, 2, ... with numbers."""
        trained, reports = self._trained()
        assert trained is not None
        epochs = [epoch for epoch, _ in reports]
        assert epochs == list(range(len(epochs)))
        for _, metrics in reports:
            assert metrics and all(isinstance(v, float) and not math.isnan(v) for v in metrics.values())

    def test_the_same_seed_trains_the_same_way(self) -> None:
        """Two trials with the same seed report the same metrics."""
        assert self._trained()[1] == self._trained()[1]

    def test_a_pruned_trial_stops(self) -> None:
        """``TrialPruned`` raised by ``context.report`` ends the trial (it is not swallowed)."""
        import pytest

        def prune(epoch: int, metrics: dict[str, float]) -> None:
            raise TrialPruned(f"pruned at epoch {epoch}")

        trainer = self.create_trainer()
        model, data = self.create_space(), self.create_data()
        mutator = self.create_mutator(model)
        if getattr(trainer, "fit", None) is not None:
            pytest.skip("reports come from the search phase (fit); trials are not pruned")
        arch = mutator.reset()
        with pytest.raises(TrialPruned):
            trainer.trial(model, arch, data, make_context(model, mutator.space.to_json(arch), on_report=prune))

    def test_a_search_kept_in_memory_writes_no_file(self, tmp_path: Path, monkeypatch: Any) -> None:
        """Without a run directory (``context.state_path`` returns None) nothing is written."""
        monkeypatch.chdir(tmp_path)
        self._trained(directory=None)
        assert list(tmp_path.iterdir()) == []

    def test_a_search_phase_resumes_from_its_saved_state(self, tmp_path: Path) -> None:
        """``fit`` saves its state in the run directory; a resumed ``fit`` loads it instead of training."""
        import pytest

        trainer = self.create_trainer()
        if getattr(trainer, "fit", None) is None:
            pytest.skip("no search phase")
        seed_everything(0)
        model, data = self.create_space(), self.create_data()
        trainer.fit(model, self.create_mutator(model), data, make_context(model, directory=tmp_path))
        assert any(tmp_path.iterdir()), "fit saved nothing in the run directory"
        seed_everything(1)  # another initialisation: the saved state must replace it
        resumed_model = self.create_space()
        reports: list[int] = []
        context = make_context(
            resumed_model, directory=tmp_path, resumed=True, on_report=lambda e, m: reports.append(e)
        )
        self.create_trainer().fit(resumed_model, self.create_mutator(resumed_model), data, context)
        assert reports == [], "a resumed search phase trained again"
        for (name, saved), loaded in zip(_tensors(model), _tensors(resumed_model)):
            assert _equal(saved, loaded[1]), name


class _Uniform(Mutator):
    def sample_search(self) -> dict[str, Any]:
        return self.space.sample(self.rng)


def _tensors(model: Any) -> list[tuple[str, Any]]:
    state = getattr(model, "state_dict", None)
    return list(state().items()) if state is not None else []


def _equal(a: Any, b: Any) -> bool:
    equal = getattr(a, "equal", None)
    return bool(equal(b)) if equal is not None else a == b


class EstimatorTestCase:
    """The contract of an estimator (see ``hyperbox_register_estimators``).

    Set ``estimator_factory`` (override :meth:`create_estimator` to give arguments) and implement
    :meth:`create_model` (a trained model as a trainer returns it, with the architecture it was
    cut to from :meth:`create_arch`) and :meth:`create_data`. Set ``deterministic = False`` for a
    measurement that varies between calls (latency). It checks that the estimator returns a
    mapping of metric names to finite numbers, the same names every time, the same values for
    the same model (unless not deterministic), and that it leaves the model's mode as it was.
    """

    estimator_factory: ClassVar[Callable[..., Any]]
    deterministic: ClassVar[bool] = True

    def create_estimator(self) -> Any:
        return type(self).estimator_factory()

    def create_model(self) -> Any:
        raise NotImplementedError

    def create_arch(self, model: Any) -> dict[str, Any] | None:
        """The architecture (JSON form) ``model`` evaluates; None for a model without mutables."""
        return None

    def create_data(self) -> Any:
        raise NotImplementedError

    def _measure(self, model: Any) -> dict[str, Any]:
        arch = self.create_arch(model)
        context = make_context(model, arch) if arch is not None else make_context(model)
        return dict(self.create_estimator()(model, self.create_data(), context))

    def test_returns_finite_numbers_by_metric_name(self) -> None:
        """A mapping ``name -> number``, every number finite."""
        metrics = self._measure(self.create_model())
        assert metrics, "no metric"
        for name, value in metrics.items():
            assert isinstance(name, str) and math.isfinite(float(value)), (name, value)

    def test_the_same_model_measures_the_same(self) -> None:
        """Two measurements of one model give the same names (and values, if deterministic)."""
        model = self.create_model()
        first, second = self._measure(model), self._measure(model)
        assert set(first) == set(second)
        if self.deterministic:
            assert first == second

    def test_the_models_mode_is_left_as_it_was(self) -> None:
        """A model in training mode stays in training mode (and in eval mode in eval mode)."""
        import pytest

        model = self.create_model()
        train = getattr(model, "train", None)
        if train is None:
            pytest.skip("the model has no training mode")
        for mode in (True, False):
            train(mode)
            self._measure(model)
            assert model.training is mode
