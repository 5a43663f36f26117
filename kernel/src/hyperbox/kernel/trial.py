"""Trials: the record a search keeps of each one, and the live trial a user or trainer works on.

A :class:`TrialRecord` is what ``trials.jsonl``, the ledgers and :class:`~hyperbox.kernel.SearchResult`
hold: plain data that round-trips through JSON. A :class:`Trial` is the trial being evaluated:
``search.ask()`` returns one, an objective function receives one, and trainers find it in their
``context.trial``.
"""

from __future__ import annotations

import numbers
import socket
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from hyperbox.kernel.errors import ConfigError

__all__ = ["Trial", "TrialRecord", "checked_report", "metric_value", "trial_seed"]


#: This machine, in each trial's record (where the trial's files are).
HOST = socket.gethostname()


def metric_value(value: Any, what: str) -> float:
    """``value`` as a metric's number (a real number, or a tensor or array scalar); anything else
    is a one-line error that begins with ``what``."""
    scalar = getattr(value, "shape", None) in ((), (1,)) and hasattr(value, "__float__")
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, numbers.Real) or scalar):
        text = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"{what}{text} ({type(value).__name__}); expected a number or a mapping metric -> number")
    return float(value)


def checked_report(epoch: Any, metrics: Any) -> dict[str, float]:
    """The metrics of ``report(epoch, metrics)`` as numbers; bad arguments are one-line errors."""
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ConfigError(f"report(epoch, metrics): epoch must be an integer (it comes first), got {epoch!r}")
    if not isinstance(metrics, Mapping):
        raise ConfigError(f"report(epoch, metrics): metrics must be a mapping metric -> number, got {metrics!r}")
    return {str(name): metric_value(value, f"report: metric {name!r} is ") for name, value in metrics.items()}


def trial_seed(seed: int, number: int) -> int:
    """Trial ``number``'s own seed, so that a resumed or shared search retrains a trial exactly as
    an uninterrupted one would."""
    return (seed * 1_000_003 + number * 7919) % 2**31


@attrs.frozen
class TrialRecord:
    """One trial: the architecture it evaluated, its seed, how it ended and what it measured
    (read-only: a trial that ends gets a new record)."""

    number: int
    arch: dict[str, Any]
    seed: int
    state: str = "running"  # running | complete | pruned | failed
    metrics: dict[str, float] = attrs.field(factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    #: what the decisions of ``arch`` stand for (``{"kernel_size": 5}``)
    values: dict[str, Any] = attrs.field(factory=dict)
    #: where it ran: the machine, and the run directory that holds its files (None: in memory)
    host: str | None = None
    directory: str | None = None
    #: the architectures (JSON form) proposed just before this one that repeated trials evaluated
    #: already: not trained again, they are replayed to the search algorithm when the search resumes
    skipped: list[dict[str, Any]] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialRecord:
        """A record from ``to_json``'s form; fields a later version added are ignored."""
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


class Trial:
    """The trial being evaluated.

    Attributes:
        number: its number in the search (0, 1, 2, ... in the order trials were asked for).
        arch: its architecture, ``key -> decision`` in JSON form (indices for categorical choices).
        values: the same decisions as the values they stand for (``{"kernel_size": 5}``).
        seed: its own seed; seed your training with it for a reproducible search.
        model: the searched model with this trial's decisions applied.
        metrics: what it measured so far (what :meth:`report` received, then its results).
    """

    def __init__(
        self,
        number: int,
        arch: dict[str, Any],
        values: dict[str, Any],
        seed: int,
        model_of: Callable[[Trial], Any],
        reporter: Callable[[Trial, int, dict[str, float]], None],
    ) -> None:
        self.number, self.arch, self.values, self.seed = number, arch, values, seed
        self.metrics: dict[str, float] = {}
        #: the trained model handed to :meth:`keep_model`
        self.kept_model: Any = None
        self._model_of, self._reporter = model_of, reporter

    @property
    def model(self) -> Any:
        """The searched model with this trial's decisions applied."""
        return self._model_of(self)

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report ``metrics`` (``{name: number}``) after ``epoch`` (0-based) of training.

        Raises :class:`~hyperbox.kernel.TrialPruned` when the search algorithm stops the trial
        (a pruner): end the training and tell the search so, for example
        ``search.tell(trial, pruned)`` with the exception caught.
        """
        values = checked_report(epoch, metrics)
        self.metrics.update(values)
        self._reporter(self, epoch, values)

    def keep_model(self, model: Any) -> None:
        """Keep ``model``, the trial's trained model: if the trial becomes the best, the result's
        ``best_model()`` returns it, and a run directory saves its weights."""
        self.kept_model = model

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, values={self.values})"
