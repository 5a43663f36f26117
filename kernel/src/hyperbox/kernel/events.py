"""Structured event log of a search: JSON lines on disk, readable lines on the console.

Every event goes to the file. The console shows, by verbosity: ``1`` a line per finished trial
(its values, its metrics to four significant digits, its time) and the start and end of the
search; ``2`` (``-v``) also each trial's start and each epoch; ``0`` nothing. Lines go through
the same rich console as the progress bar, so they print above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

__all__ = ["EventLog", "shown"]


def shown(value: Any) -> str:
    """A number as people read it: four significant digits, a whole number (a count of
    parameters) as it is."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def _pairs(fields: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={shown(value)}" for key, value in fields.items())


def _trial_end(fields: Mapping[str, Any]) -> str:
    skip = {"number", "state", "error", "values", "duration_s"}
    metrics = {key: value for key, value in fields.items() if key not in skip}
    parts = [f"trial {fields.get('number')} {fields.get('state')}"]
    if fields.get("values"):
        parts.append(_pairs(fields["values"]))
    if metrics:
        parts.append("| " + _pairs(metrics))
    if fields.get("error"):
        parts.append(f"| {fields['error']}")
    if "duration_s" in fields:
        parts.append(f"({fields['duration_s']:.1f}s)")
    return " ".join(parts)


def _run_end(fields: Mapping[str, Any]) -> str:
    best = fields.get("best")
    outcome = "no trial completed" if best is None else f"best trial {best['number']} | {_pairs(best['metrics'])}"
    return f"search {fields.get('status')}: {outcome}"


#: event -> (least verbosity that shows it, its line); other events show at verbosity 2 as ``key=value``.
_LINES: dict[str, tuple[int, Callable[[Mapping[str, Any]], str]]] = {
    "run_start": (1, lambda f: f"search started in {f.get('directory')} ({f.get('trials_done', 0)} trials done)"),
    "trial_end": (1, _trial_end),
    "run_end": (1, _run_end),
    "trial_start": (2, lambda f: f"trial {f.get('number')} started: {_pairs(f.get('values') or {})}"),
    "epoch_end": (2, lambda f: f"  trial {f.get('trial')} epoch {f.get('epoch')} | {_pairs(_metrics_of(f))}"),
    "trial_error": (2, lambda f: f"trial {f.get('number')} raised:\n{f.get('traceback')}"),
}


def _metrics_of(epoch: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in epoch.items() if key not in ("trial", "epoch")}


class EventLog:
    """``log.info("trial_end", number=3, ...)`` writes one JSON line (flushed) to ``path`` (None:
    no file) and, by ``console`` verbosity (``True`` is 1), a readable line on stderr, after
    ``prefix`` (``"[worker 2] "``)."""

    def __init__(self, path: str | Path | None, console: int | bool = 1, prefix: str = "") -> None:
        self._file = None if path is None else open(path, "a", encoding="utf-8")
        self._json = (
            None
            if self._file is None
            else structlog.wrap_logger(
                structlog.WriteLogger(self._file),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(default=str),
                ],
            )
        )
        self.verbosity = int(console)
        self.prefix = prefix
        #: the rich console the lines go to (a progress bar shares it, to stay below them)
        self.console = None
        if self.verbosity:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

    def info(self, event: str, **fields: Any) -> None:
        self.record(event, **fields)
        if self.console is None:
            return
        least, line = _LINES.get(event, (2, lambda f: f"{event} {_pairs(f)}"))
        if self.verbosity >= least:
            self.console.print(f"{datetime.now():%H:%M:%S} {self.prefix}{line(fields)}", markup=False)

    def record(self, event: str, **fields: Any) -> None:
        """Write the event to the file only."""
        if self._json is not None:
            self._json.info(event, **fields)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
