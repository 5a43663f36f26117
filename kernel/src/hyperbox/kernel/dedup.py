"""Deduplication: an architecture evaluated already in a search is not trained again (torch-free).

The engine asks the search algorithm for another proposal instead, and hands it the repeated
proposal's earlier result as if it had been evaluated again (Optuna's recipe for repeated
parameters), so that every algorithm keeps learning as it would without deduplication; a repeat
of a trial still running gets that trial's result when it ends. Complete, pruned and failed
trials count as evaluated (an architecture that raised would raise again), except those that
never ran to an end: left open when their search closed, or lost with their worker -- those are
tried again. The skipped proposals are recorded with the trial that follows them
(``TrialRecord.skipped``), so that a resumed search replays them too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hyperbox.kernel.trial import TrialRecord

__all__ = ["ATTEMPTS", "Evaluated", "replay"]

#: how the errors of failed trials that never ran to an end begin (the engine's and the ledgers')
UNFINISHED = ("HyperboxError: not told before the search closed", "worker lost")

#: proposals in a row that repeat evaluated architectures before a search ends as exhausted
ATTEMPTS = 100


class Evaluated:
    """The finished trials of a search by architecture (the latest of each); ``significant``
    keeps the decisions that tell two architectures apart (the active ones)."""

    def __init__(self, significant: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict) -> None:
        self._significant = significant
        self._records: dict[str, TrialRecord] = {}

    def identity(self, arch: Mapping[str, Any]) -> str:
        """What makes two architectures (JSON form) the same."""
        return json.dumps(self._significant(arch), sort_keys=True)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: TrialRecord) -> None:
        """Remember ``record`` unless it never ran to an end (see the module's documentation)."""
        unfinished = record.state == "failed" and (record.error or "").startswith(UNFINISHED)
        if not unfinished:
            self._records[self.identity(record.arch)] = record

    def get(self, arch: Mapping[str, Any]) -> TrialRecord | None:
        """The trial that evaluated ``arch`` (JSON form) already, or None."""
        return self._records.get(self.identity(arch))


def replay(
    history: Iterable[TrialRecord], significant: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict
) -> list[tuple[dict[str, Any], dict[str, float], str]]:
    """``(arch, metrics, state)`` of each proposal behind ``history``, in order: a trial's skipped
    proposals (with the result of the trial each repeated) before its own. ``significant`` tells
    repeats apart (see :class:`Evaluated`)."""
    history = list(history)
    evaluated = Evaluated(significant)
    anywhere = Evaluated(significant)  # a repeat of a trial running then
    for record in history:
        anywhere.add(record)
    proposals = []
    for record in history:
        for arch in record.skipped:
            earlier = evaluated.get(arch) or anywhere.get(arch)
            if earlier is not None:
                proposals.append((arch, earlier.metrics, earlier.state))
        proposals.append((record.arch, record.metrics, record.state))
        evaluated.add(record)
    return proposals
