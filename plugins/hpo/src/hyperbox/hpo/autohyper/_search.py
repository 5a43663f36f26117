"""autoHyper's learning-rate search: scan a log grid, zoom where the low-rank metric settles.

Hosseini and Plataniotis (autoHyper). Each candidate learning rate gets a short training trial
and is scored by :func:`low_rank_metric` (the trial's *rank*: the fraction of weight unfoldings
that EVBMF finds to be pure noise). Too small a rate leaves every layer at noise (rank 1); large
enough a rate makes every layer learn (rank 0). The search walks a log grid upwards and narrows
it around the smallest rate at which the rank reaches 0 or stops falling:

- ``all-zero``: rank 1, nothing learnt -> raise the lower end five-fold.
- ``early-cross``: the first rate of the first scan already has rank < 0.5 -> lower end / 10.
- ``reach-100``: rank 0 -> zoom into the two grid steps before this rate.
- ``plateau``: ``prod(ranks) ** power < min_delta`` (the rank stopped falling) -> zoom into the
  steps around this rate; after ``max_plateaus`` of them the search ends (``exit-counter``).
- ``end-reached``: the grid ran out -> extend it upwards by 1.5x.
- ``exit-delta``: the range is narrower than ``lr_delta`` -> done.

The result is the top of the final range. Every trial is a row ``lr,rank,msg`` of ``lrrt.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hyperbox.hpo.autohyper._knowledge import low_rank_metric, score_trained
from hyperbox.kernel.files import write_text

__all__ = ["AutoHyper", "AutoHyperResult", "tune_lr"]

LRRT_FILE = "lrrt.csv"


class AutoHyperResult(NamedTuple):
    """The chosen learning rate and the search's rows ``(lr, rank, msg)``."""

    lr: float
    history: list[tuple[float, float, str]]


class AutoHyper:
    """The autoHyper learning-rate search around a trainer-agnostic ``train_fn``.

    Args:
        train_fn: ``train_fn(lr)`` trains a fresh model briefly (the paper: 5 epochs) and returns
            it, or returns an iterable of the model after each epoch (the rank is then averaged
            over epochs, as in the paper).
        min_lr, max_lr, num_split: the initial log grid.
        min_delta, power: the plateau rule ``prod(ranks) ** power < min_delta``.
        lr_delta: stop once the range is narrower than this.
        max_plateaus: stop after this many plateaus.
        max_trials: stop after this many trials whatever the rules say (``exit-budget``).
        metric: scores a trained model (default :func:`low_rank_metric`).
        directory: where ``lrrt.csv`` is written after every trial (None: not written).
    """

    def __init__(
        self,
        train_fn: Callable[[float], Any],
        *,
        min_lr: float = 1e-4,
        max_lr: float = 0.1,
        num_split: int = 20,
        min_delta: float = 5e-3,
        lr_delta: float = 3e-5,
        power: float = 0.8,
        max_plateaus: int = 6,
        max_trials: int = 200,
        metric: Callable[[Any], float] = low_rank_metric,
        directory: str | os.PathLike | None = None,
    ) -> None:
        if not 0 < min_lr < max_lr:
            raise ValueError(f"autoHyper: need 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
        if num_split < 2:
            raise ValueError(f"autoHyper: num_split must be at least 2, got {num_split}")
        self.train_fn = train_fn
        self.min_lr, self.max_lr, self.num_split = min_lr, max_lr, num_split
        self.min_delta, self.lr_delta, self.power = min_delta, lr_delta, power
        self.max_plateaus, self.max_trials = max_plateaus, max_trials
        self.metric = metric
        self.directory = None if directory is None else Path(directory)
        self.history: list[tuple[float, float, str]] = []

    def rank(self, lr: float) -> float:
        """Train at ``lr`` and score the result."""
        return score_trained(self.train_fn(lr), self.metric)

    def _record(self, lr: float, rank: float, msg: str) -> None:
        self.history.append((float(lr), float(rank), msg))
        if self.directory is not None:
            rows = "".join(f"{lr!r},{rank!r},{msg}\n" for lr, rank, msg in self.history)
            write_text(self.directory / LRRT_FILE, "lr,rank,msg\n" + rows)

    def run(self) -> AutoHyperResult:
        self.history = []
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        low, high = self.min_lr, self.max_lr
        grid = np.geomspace(low, high, self.num_split)
        index, trials, plateaus, first_scan = 0, 0, 0, True
        ranks: list[float] = []
        rank = -1.0  # no trial yet on this grid

        def zoom(new_low: float, new_high: float, *, keep_ranks: bool = False) -> None:
            nonlocal low, high, grid, index, ranks, rank
            low, high = new_low, new_high
            grid, index, rank = np.geomspace(low, high, self.num_split), 0, -1.0
            if not keep_ranks:
                ranks = []

        while True:
            if index == len(grid):
                self._record(grid[-1], -1.0, "end-reached")
                zoom(grid[-2], grid[-1] * 1.5, keep_ranks=True)  # the same scan, continued
                continue
            if high - low < self.lr_delta:
                self._record(grid[index], rank, "exit-delta")
                break
            if trials == self.max_trials:
                self._record(grid[index], rank, "exit-budget")
                break
            lr = grid[index]
            rank = self.rank(lr)
            trials += 1
            ranks.append(rank)
            if index > 0:
                first_scan = False
            if np.isclose(rank, 1.0):
                self._record(lr, rank, "all-zero")
                zoom(low * 5, max(high, low * 5 * 1.5))
            elif index == 0 and first_scan and rank < 0.5:
                self._record(lr, rank, "early-cross")
                zoom(low / 10, high)
            elif index > 0 and np.isclose(rank, 0.0):
                self._record(lr, rank, "reach-100")
                below = grid[max(index - 2, 0)]
                zoom(below, grid[index - 1] if grid[index - 1] != below else (below + lr) / 2)
            elif index > 0 and np.prod(ranks) ** self.power < self.min_delta:
                self._record(lr, rank, "plateau")
                plateaus += 1
                zoom(grid[max(index - 2, 0)], lr)
                if plateaus > self.max_plateaus:
                    self._record(grid[0], rank, "exit-counter")
                    break
            else:
                self._record(lr, rank, "nothing")
                index += 1
        return AutoHyperResult(float(self.history[-1][0]), list(self.history))  # the rate where the search stopped


def tune_lr(train_fn: Callable[[float], Any], directory: str | os.PathLike, **options: Any) -> float:
    """Run autoHyper around ``train_fn`` and return the learning rate; ``lrrt.csv`` goes into
    ``directory``. ``options`` are :class:`AutoHyper`'s keyword arguments."""
    return AutoHyper(train_fn, directory=directory, **options).run().lr
