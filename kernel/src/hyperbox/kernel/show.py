"""``hbk show``'s trial table: values and metrics as people read them, fitted to the terminal.

Columns come in order of importance: the trial's number and state, the objectives, each
decision's value, the other metrics, the time. Those that do not fit the width are left out whole
(and named below the table), so no number is ever cut; ``--columns`` chooses them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hyperbox.kernel.errors import ConfigError
from hyperbox.kernel.events import shown
from hyperbox.kernel.ranking import Ranking
from hyperbox.kernel.trial import TrialRecord

__all__ = ["TrialTable"]

#: What a column of the table costs beyond its text: the border and the padding on each side.
_FRAME = 3


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return shown(value)


class TrialTable:
    """The trials of a run as rows; ``objectives`` and ``directions`` order the columns and, with
    several objectives, mark the Pareto front."""

    def __init__(self, trials: Sequence[TrialRecord], objectives: Sequence[str], directions: Sequence[str]) -> None:
        self.trials = sorted(trials, key=lambda t: t.number)
        metric_names = sorted({name for t in self.trials for name in t.metrics} - set(objectives))
        self._metric_columns = set(metric_names) | set(objectives)  # a decision of such a name shows as the metric
        value_names = list(dict.fromkeys(key for t in self.trials for key in (t.values or t.arch)))
        #: every column after the number and the state, most important first
        self.available = [o for o in objectives if any(o in t.metrics for t in self.trials)]
        self.available += [name for name in value_names if name not in self._metric_columns]
        self.available += [*metric_names, "seconds"]
        self.several = len(objectives) > 1
        measured = [t for t in self.trials if all(o in t.metrics for o in objectives)]  # a tune-lr run measures none
        self.front = (
            {t.number for t in Ranking(objectives, directions).pareto_front(measured)} if self.several else set()
        )

    def _cells(self, trial: TrialRecord, column: str) -> str:
        if column == "seconds":
            return f"{trial.duration_s:.1f}"
        if column in self._metric_columns:
            return _cell(trial.metrics.get(column))
        return _cell((trial.values or trial.arch).get(column))

    def choose(self, width: int, columns: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
        """The columns shown within ``width`` characters (or those asked for), and those left out."""
        if columns is not None:
            unknown = [c for c in columns if c not in self.available]
            if unknown:
                raise ConfigError(f"--columns: no column {unknown[0]!r}; the run has {', '.join(self.available)}")
            return list(columns), [c for c in self.available if c not in columns]
        fixed = ["#", "state"] + (["front"] if self.several else [])
        used = sum(self._width(c) for c in fixed) + 1
        chosen = []
        for column in self.available:  # in order of importance, up to the first that does not fit
            used += self._width(column)
            if used > width:
                break
            chosen.append(column)
        return chosen, self.available[len(chosen) :]

    def _width(self, column: str) -> int:
        if column in ("#", "state", "front"):
            cells = [self._fixed(t, column) for t in self.trials]
        else:
            cells = [self._cells(t, column) for t in self.trials]
        return max([len(column), *map(len, cells)]) + _FRAME

    def _fixed(self, trial: TrialRecord, column: str) -> str:
        if column == "#":
            return str(trial.number)
        if column == "state":
            return trial.state
        return "*" if trial.number in self.front else ""

    def render(self, columns: Sequence[str], title: str) -> Any:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        heads = ["#", "state"] + (["front"] if self.several else []) + list(columns)
        for head in heads:
            table.add_column(head, justify="left" if head in ("state", "front") else "right", overflow="fold")
        for trial in self.trials:
            fixed = [self._fixed(trial, c) for c in heads[: len(heads) - len(columns)]]
            table.add_row(*fixed, *(self._cells(trial, c) for c in columns))
        return table


def best_lines(best: Mapping[str, Any] | None, front: Sequence[int]) -> list[str]:
    """The summary's best trial (values and metrics) and, with several objectives, the front."""
    lines = []
    if best is not None:
        values = " ".join(f"{k}={_cell(v)}" for k, v in (best.get("values") or best["arch"]).items())
        metrics = " ".join(f"{k}={shown(v)}" for k, v in best["metrics"].items())
        lines += [f"best: trial {best['number']}: {values}", f"      {metrics}"]
    if front:
        lines.append("Pareto front: " + ", ".join(f"trial {n}" for n in front))
    return lines
