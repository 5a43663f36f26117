"""Ledgers: where a search's trials are recorded and its trial budget is shared out.

The engine asks its ledger for the next trial (:meth:`Ledger.claim`), says when it starts and
ends, and learns from the trials finished elsewhere (:meth:`Ledger.others`). A ledger never sees
the engine or the search algorithm: a :class:`Claim` carries what the engine needs. A single
process keeps its own books (:class:`LocalLedger`); storage plugins (``hyperbox_register_storages``)
provide ledgers that several workers share, so that the budget is global and every worker's
search algorithm sees every worker's results. ``hyperbox.kernel.testing.LedgerTestCase`` checks a
ledger against this contract.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from hyperbox.kernel.trial import TrialRecord

__all__ = ["Budget", "Claim", "Ledger", "LocalLedger"]


@attrs.frozen
class Budget:
    """How much a search may spend: trials and/or seconds (None: no limit of that kind)."""

    trials: int | None = None
    seconds: float | None = None


@attrs.frozen
class Claim:
    """The next trial to run.

    Attributes:
        number: the trial's number.
        arch: when the claim retries a lost trial, the architecture (JSON form) to evaluate again;
            None: the search algorithm proposes one.
        handle: the storage's own trial (an Optuna trial for the hpo plugin's ledgers), for a
            search algorithm that searches in the ledger's :attr:`Ledger.study`; None otherwise.
    """

    number: int
    arch: dict[str, Any] | None = None
    handle: Any = attrs.field(default=None, eq=False, repr=False)


class Ledger(Protocol):
    """The record of a search's trials and the keeper of its budget.

    A storage plugin's factory is called as ``factory(url, experiment=EXPERIMENT_JSON, study=NAME,
    **options)`` to create a new shared record for an experiment (and the whole trial budget),
    with ``load_if_exists=True`` to join the study of that name if it exists already, or
    ``factory(url, study=NAME)`` to join an existing one (``study`` None: the only one); a
    joined ledger's :attr:`experiment` is the experiment it was created for.
    """

    #: The experiment (JSON form) the ledger records; a joining worker builds its search from it.
    experiment: dict[str, Any]
    #: The storage's own record of the trials (an Optuna study), which a search algorithm of the
    #: same plugin may search in (see ``Mutator.bind_run``); None when there is none.
    study: Any

    def claim(self) -> Claim | None:
        """The next trial to run, or None when the budget is spent (may wait for other workers'
        running trials, since a lost one is retried)."""

    def start(self, trial: TrialRecord) -> None:
        """The claimed ``trial`` starts with ``trial.arch`` (recorded, so that a retry re-runs it)."""

    def finish(self, trial: TrialRecord) -> None:
        """``trial`` ended (``complete``, ``pruned`` or ``failed``)."""

    def release(self, claim: Claim) -> None:
        """``claim`` is given back unstarted (the search ended before it): its trial is claimed
        again by a later :meth:`claim`, of this or another worker."""

    def others(self) -> list[TrialRecord]:
        """Trials finished elsewhere (other workers, or an earlier run) since the last call."""

    def close(self) -> None:
        """Release what the ledger holds (connections, heartbeats)."""


class LocalLedger:
    """The books of a single process: the budget counts trials and seconds; ``history`` holds the
    trials of the search being resumed (the engine appends new ones to its own record)."""

    experiment: dict[str, Any] = {}
    study = None

    def __init__(self, budget: Budget, history: Iterable[TrialRecord] = ()) -> None:
        self.budget = budget
        self._history = list(history)
        #: numbers recorded or handed out; a resumed search fills the gaps an interruption left first
        self._taken = {t.number for t in self._history}
        self._lowest_free = 0
        self._previous_s = sum(t.duration_s for t in self._history)
        self._started = time.monotonic()

    def claim(self) -> Claim | None:
        if self.budget.trials is not None and len(self._taken) >= self.budget.trials:
            return None
        elapsed = self._previous_s + time.monotonic() - self._started
        if self.budget.seconds is not None and elapsed >= self.budget.seconds:
            return None
        while self._lowest_free in self._taken:
            self._lowest_free += 1
        self._taken.add(self._lowest_free)
        return Claim(self._lowest_free)

    def start(self, trial: TrialRecord) -> None:
        """Nothing to record: the engine's own record (``trials.jsonl``) is this ledger's."""

    def finish(self, trial: TrialRecord) -> None:
        """Nothing to record: claims are counted when they are made."""

    def release(self, claim: Claim) -> None:
        self._taken.discard(claim.number)
        self._lowest_free = min(self._lowest_free, claim.number)

    def others(self) -> list[TrialRecord]:
        history, self._history = self._history, []
        return history

    def close(self) -> None:
        """Nothing held."""
