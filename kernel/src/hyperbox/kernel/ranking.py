"""Ranking trials: the best one, and the Pareto front of several objectives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hyperbox.kernel.trial import TrialRecord

__all__ = ["KeptTrials", "Ranking", "dominates"]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (higher is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


class Ranking:
    """Orders trials by their objectives, each maximised or minimised."""

    def __init__(self, objectives: Sequence[str], directions: Sequence[str]) -> None:
        self.objectives, self.directions = tuple(objectives), tuple(directions)

    def signed(self, metrics: Mapping[str, float]) -> list[float]:
        """The objective values of ``metrics``, signed so that higher is better."""
        return [
            float(metrics[o]) if d == "maximize" else -float(metrics[o])
            for o, d in zip(self.objectives, self.directions)
        ]

    def key(self, trial: TrialRecord) -> tuple:
        """Best first objective first; on a tie, the next objectives in order, then the earlier trial."""
        return *self.signed(trial.metrics), -trial.number

    def best(self, trials: Iterable[TrialRecord]) -> TrialRecord | None:
        return max((t for t in trials if t.state == "complete"), key=self.key, default=None)

    def pareto_front(self, trials: Iterable[TrialRecord]) -> list[TrialRecord]:
        """Every complete trial that no other complete trial dominates, in trial order."""
        complete = sorted((t for t in trials if t.state == "complete"), key=lambda t: t.number)
        values = {t.number: self.signed(t.metrics) for t in complete}
        return [t for t in complete if not any(dominates(values[o.number], values[t.number]) for o in complete)]


class KeptTrials:
    """Which trials keep their weights as trials finish: the ``count`` best by :class:`Ranking`'s
    order, or with several objectives the Pareto front (kept whole)."""

    def __init__(self, ranking: Ranking, count: int) -> None:
        self.ranking, self.count = ranking, count
        self._kept: list[TrialRecord] = []

    @property
    def numbers(self) -> list[int]:
        return [t.number for t in self._kept]

    def add(self, trial: TrialRecord) -> tuple[bool, list[int]]:
        """Whether ``trial`` is kept, and the trials it pushes out."""
        if trial.state != "complete":
            return False, []
        if len(self.ranking.objectives) > 1:
            mine = self.ranking.signed(trial.metrics)
            if any(dominates(self.ranking.signed(t.metrics), mine) for t in self._kept):
                return False, []
            out = [t for t in self._kept if dominates(mine, self.ranking.signed(t.metrics))]
        else:
            ranked = sorted([*self._kept, trial], key=self.ranking.key, reverse=True)
            out = ranked[self.count :]
            if trial in out:
                return False, []
        self._kept = [t for t in self._kept if t not in out] + [trial]
        return True, [t.number for t in out]
