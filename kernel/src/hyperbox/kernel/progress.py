"""A console progress bar for a search: trials done, best score, ETA; log lines (Hyperbox's and
other libraries') print above it."""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrialProgress:
    """Trials done out of ``total`` (None: unknown) and the best value of ``objective``, kept at the
    bottom of ``console`` while log lines print above it."""

    def __init__(self, objective: str, total: int | None, done: int = 0, console: Console | None = None) -> None:
        self.objective = objective
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True, emoji=False),
            transient=False,
        )
        self._task = self._progress.add_task("trials", total=total, completed=done, best="-")
        original = sys.stderr
        self._progress.start()
        self._swapped = _through(original, sys.stderr)

    def update(self, trials, best) -> None:
        shown = f"{self.objective}={best.metrics[self.objective]:.4g}" if best is not None else "-"
        self._progress.update(self._task, completed=len(trials), best=shown)

    def close(self) -> None:
        for handler, stream in self._swapped:
            handler.setStream(stream)
        self._progress.stop()


def _through(original: Any, proxy: Any) -> list[tuple[logging.StreamHandler, Any]]:
    """Point the logging handlers that write to the terminal's stderr (Optuna's, a library's, the
    user's) at the progress bar's stand-in for it, so that their lines print above the bar too;
    returns what to put back."""
    if proxy is original:  # not a terminal: nothing is redirected
        return []
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    swapped = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if type(handler) is logging.StreamHandler and handler.stream in (original, sys.__stderr__):
                swapped.append((handler, handler.setStream(proxy)))
    return swapped
