"""A console progress bar for a search: trials done, best score, ETA."""

from __future__ import annotations

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
        self._progress.start()

    def update(self, trials, best) -> None:
        shown = f"{self.objective}={best.metrics[self.objective]:.4g}" if best is not None else "-"
        self._progress.update(self._task, completed=len(trials), best=shown)

    def close(self) -> None:
        self._progress.stop()
