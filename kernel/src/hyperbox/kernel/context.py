"""The narrow handles the engine gives out: a :class:`Context` to trainers and estimators, a
:class:`RunInfo` to lifecycle hooks. Neither reaches back into the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from hyperbox.kernel.trial import Trial, TrialRecord, checked_report

__all__ = ["Context", "RunInfo"]


@attrs.frozen
class Context:
    """What trainers and estimators receive besides the model and the data.

    Attributes:
        seed: the trial's seed (the search's seed in a trainer's ``fit`` phase).
        device: where to compute (``"cpu"``, ``"cuda"``, ...), unless a component was given its own.
        log: the search's event log: ``log.info("event", key=value, ...)``.
        trial: the trial being evaluated (None during ``fit``): ``number``, ``arch``, ``values``.
        resumed: the search continues an earlier one, whose state files may hold saved work.
        directory: the run directory, or None for a search kept in memory.
    """

    seed: int
    device: str
    log: Any
    trial: Trial | None = None
    resumed: bool = False
    directory: Path | None = None
    #: where :meth:`report` goes without a trial (a trainer's ``fit`` phase; a trial's reports go to it)
    on_report: Callable[[int, dict[str, float]], None] | None = attrs.field(default=None, repr=False)

    def state_path(self, name: str) -> Path | None:
        """A file in the run directory for a component's own state (a checkpoint to resume from),
        or None when the search writes no file: then keep nothing."""
        return None if self.directory is None else self.directory / name

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report an epoch's metrics (0-based ``epoch``); raises :class:`~hyperbox.kernel.TrialPruned`
        when the search stops the trial."""
        if self.trial is not None:
            self.trial.report(epoch, metrics)
        elif self.on_report is not None:
            self.on_report(epoch, checked_report(epoch, metrics))


@attrs.frozen
class RunInfo:
    """A read-only description of a search, given to lifecycle hooks.

    Attributes:
        name: the search's name.
        directory: its run directory, or None for a search kept in memory.
        objectives, directions: the metrics it optimises and whether each is maximised or minimised.
        seed: its seed.
        budget_trials, budget_seconds: its budget (None: no limit of that kind).
        resumed: it continues an earlier search.
        trials: the trials finished so far, in the order they finished (a read-only view that
            follows the search).
        config: the experiment it runs (JSON form), when it was composed from one.
    """

    name: str
    directory: Path | None
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    seed: int
    budget_trials: int | None
    budget_seconds: float | None
    resumed: bool
    trials: Sequence[TrialRecord]
    config: Mapping[str, Any] | None = None
