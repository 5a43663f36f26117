"""Trials: the record a search keeps of each one, and the live trial a user or trainer works on.

A :class:`TrialRecord` is what ``trials.jsonl``, the ledgers and :class:`~hyperbox.kernel.SearchResult`
hold: plain data that round-trips through JSON. A :class:`Trial` is the trial being evaluated:
``search.ask()`` returns one, an objective function receives one, and trainers find it in their
``context.trial``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Trial", "TrialRecord", "trial_seed"]

#: How a trial ended (a running trial has not ended yet).
STATES = ("running", "complete", "pruned", "failed")


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
        model: Any,
        reporter: Callable[[Trial, int, dict[str, float]], None],
    ) -> None:
        self.number, self.arch, self.values, self.seed, self.model = number, arch, values, seed, model
        self.metrics: dict[str, float] = {}
        self._reporter = reporter

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report ``metrics`` after ``epoch`` (0-based) of training.

        Raises :class:`~hyperbox.kernel.TrialPruned` when the search algorithm stops the trial
        (a pruner): end the training and tell the search so, for example
        ``search.tell(trial, pruned)`` with the exception caught.
        """
        values = {str(name): float(value) for name, value in metrics.items()}
        self.metrics.update(values)
        self._reporter(self, epoch, values)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, values={self.values})"
