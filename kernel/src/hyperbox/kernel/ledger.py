"""Ledgers: where a run's trials are recorded and its trial budget is shared out.

The runner asks its ledger for the next trial (:meth:`Ledger.claim`), says when it starts and
ends, and learns from the trials other workers finished (:meth:`Ledger.others`). A single process
keeps its own books (:class:`LocalLedger`); storage plugins (``hyperbox_register_storages``)
provide ledgers that several workers share, so that the budget is global and every worker's
mutator sees every worker's results.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from hyperbox.kernel.config import Budget

__all__ = ["Claim", "Ledger", "LocalLedger", "Trial"]


@attrs.define
class Trial:
    """One trial: the architecture it evaluates, its seed, how it ended and what it measured."""

    number: int
    arch: dict[str, Any]
    seed: int
    state: str = "running"  # running | complete | pruned | failed
    metrics: dict[str, float] = attrs.field(factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Claim:
    """The next trial to run: its ``number`` and, when it retries a lost trial, the ``arch`` (JSON)
    it must evaluate again (None: the mutator proposes one)."""

    number: int
    arch: dict[str, Any] | None = None


class Ledger(Protocol):
    """The record of a run's trials and the keeper of its budget.

    A storage plugin's factory is called as ``factory(url, experiment=EXPERIMENT_JSON, study=NAME,
    **options)`` to create a new shared record for an experiment (and the whole trial budget),
    or ``factory(url, study=NAME)`` to join an existing one (``study`` None: the only one); a
    joined ledger's :attr:`experiment` is the experiment it was created for.
    """

    #: The experiment (JSON form) the ledger records; a joining worker builds its run from it.
    experiment: dict[str, Any]

    def attach(self, run: Any) -> None:
        """Bind to ``run`` once its components are built and its directory exists."""

    def claim(self) -> Claim | None:
        """The next trial to run, or None when the budget is spent (may wait for other workers'
        running trials, since a lost one is retried)."""

    def start(self, trial: Trial) -> None:
        """The claimed ``trial`` starts with ``trial.arch`` (recorded, so that a retry re-runs it)."""

    def finish(self, trial: Trial) -> None:
        """``trial`` ended (``complete``, ``pruned`` or ``failed``)."""

    def others(self) -> list[Trial]:
        """Trials finished elsewhere (other workers, or an earlier run) since the last call."""

    def close(self) -> None:
        """Release what the ledger holds (connections, heartbeats)."""


class LocalLedger:
    """The books of a single process: the budget counts trials and seconds, the history of a
    resumed run is its directory's ``trials.jsonl`` (which the runner appends to)."""

    def __init__(self, budget: Budget, history: Iterable[Trial] = ()) -> None:
        self.budget = budget
        self._history = list(history)
        self._done = len(self._history)
        self._previous_s = sum(t.duration_s for t in self._history)
        self._started = time.monotonic()
        self.experiment: dict[str, Any] = {}

    def attach(self, run: Any) -> None:
        self._started = time.monotonic()

    def claim(self) -> Claim | None:
        if self.budget.trials is not None and self._done >= self.budget.trials:
            return None
        elapsed = self._previous_s + time.monotonic() - self._started
        if self.budget.seconds is not None and elapsed >= self.budget.seconds:
            return None
        return Claim(self._done)

    def start(self, trial: Trial) -> None:
        """Nothing to record: the runner's ``trials.jsonl`` is this ledger's record."""

    def finish(self, trial: Trial) -> None:
        self._done += 1

    def others(self) -> list[Trial]:
        history, self._history = self._history, []
        return history

    def close(self) -> None:
        """Nothing held."""
