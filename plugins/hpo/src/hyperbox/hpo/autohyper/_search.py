"""autoHyper's learning-rate search: scan a log grid, zoom where the low-rank metric settles.

Tuli, Hosseini and Plataniotis (autoHyper). Each candidate learning rate gets a short training
trial at that constant rate and is scored by :func:`low_rank_metric` averaged over the trial's
epochs (the trial's *rank*: the fraction of convolution unfoldings that EVBMF finds to be pure
noise). Too small a rate leaves every layer at noise (rank 1); large enough a rate makes every
layer learn (rank 0). The rules are those of the reference code (github.com/MathieuTuli/autoHyper,
branch ``master``, ``src/autohyper/autoHyper.py:auto_lr``), trial for trial:

- ``all-zero``: rank 1, nothing learnt -> the lower end rises five-fold (the upper end becomes
  1.5 times the lower when passed) and the rank product restarts.
- ``early-cross``: the first rate of the first scan (no scan has gone past its first rate yet)
  already has rank < 0.5 -> the lower end drops ten-fold.
- ``reach-100``: rank 0 past the first rate -> zoom into the two grid steps before this rate
  (the midpoint when they are one step).
- ``plateau``: past the first rate, ``prod(ranks of this scan) ** power < min_delta`` (the rank
  stopped falling) -> zoom into the two steps up to this rate; the search ends after more than
  ``max_plateaus`` of them (``exit-counter``).
- ``end-reached``: the grid ran out -> its last step, stretched 1.5-fold, is the next grid; the
  rank product carries on.
- ``exit-delta``: the range is narrower than ``lr_delta`` -> done.

Both ``exit-delta`` and ``exit-counter`` are a converged search; the result is the top of the
final range (the reference returns ``learning_rates[-1]``), a rate that was trained. Three exits
are ours and leave the search unconverged, each where the reference's rules would run on
forever or where the user asked for less:

- ``exit-budget``: ``max_trials`` trials were trained (no cap by default).
- ``exit-ceiling``: the next rate is above ``lr_ceiling``; a network that learns at no rate (or
  diverges first) raises the range forever under the reference's rules.
- ``exit-oscillation``: ``all-zero`` and ``early-cross`` undid each other more than
  ``max_reversals`` times in a row; when the rank falls from 1 to under 0.5 within a factor of 5
  of the rate, the reference's rules raise and lower the first rate forever.

Every row of the search is a line ``lr,rank,msg`` of ``lrrt.csv``, with rank -1 where nothing
was trained.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hyperbox.hpo.autohyper._knowledge import score_trained
from hyperbox.kernel.files import write_text

__all__ = ["CONVERGED_EXITS", "LR_CEILING", "LR_DELTA", "AutoHyper", "AutoHyperResult", "tune_lr"]

LRRT_FILE = "lrrt.csv"
#: the reference's own exits; ``exit-budget`` and ``exit-ceiling`` stop a search short of them
CONVERGED_EXITS = ("exit-delta", "exit-counter")
#: no initial learning rate above this is useful; a search that gets there has found nothing
LR_CEILING = 10.0
#: the search ends once its range is narrower than this (the reference's ``lr_delta``)
LR_DELTA = 3e-5
#: the rules that move the first rate of a scan up and down
BOUNCES = ("all-zero", "early-cross")


class AutoHyperResult(NamedTuple):
    """What the search found and how it ended.

    Attributes:
        lr: the top of the final range when it was trained (always, for a converged search whose
            last zoom came from a plateau or rank 0 two steps up), else the highest rate trained in
            that range, else the last rate trained (None when nothing was).
        history: the rows ``(lr, rank, msg)``, as in ``lrrt.csv``.
        converged: the search ended by one of the reference's rules (``exit-delta``, ``exit-counter``).
        exit: the exit rule.
        final_range: ``(low, high)`` of the last grid.
        last_trained: the last rate trained (None when none was).
    """

    lr: float | None
    history: list[tuple[float, float, str]]
    converged: bool
    exit: str
    final_range: tuple[float, float]
    last_trained: float | None


class AutoHyper:
    """The autoHyper learning-rate search around a trainer-agnostic ``train_fn``.

    Args:
        train_fn: ``train_fn(lr)`` trains a fresh model briefly at the constant rate ``lr`` (the
            reference: 5 epochs) and returns the model after each epoch (the rank is averaged
            over them, as the reference does) or only the trained model.
        min_lr, max_lr, num_split: the initial log grid (the reference's 1e-4, 0.1, 20).
        min_delta, power: the plateau rule ``prod(ranks) ** power < min_delta`` (5e-3, 0.8).
        lr_delta: stop once the range is narrower than this (3e-5).
        max_plateaus: stop after more plateaus than this (the reference's ``exit_counter_thresh``, 6).
        max_trials: stop after this many trials whatever the rules say (None: no cap).
        lr_ceiling: never train a rate above this (stop unconverged instead).
        max_reversals: stop unconverged after more ``all-zero``/``early-cross`` reversals in a row.
        metric: scores one trained model in place of the rank (default: :func:`trial_rank`, the
            rank over the epochs).
        directory: where ``lrrt.csv`` is written after every row (None: not written).
    """

    def __init__(
        self,
        train_fn: Callable[[float], Any],
        *,
        min_lr: float = 1e-4,
        max_lr: float = 0.1,
        num_split: int = 20,
        min_delta: float = 5e-3,
        lr_delta: float = LR_DELTA,
        power: float = 0.8,
        max_plateaus: int = 6,
        max_trials: int | None = None,
        lr_ceiling: float = LR_CEILING,
        max_reversals: int = 10,
        metric: Callable[[Any], float] | None = None,
        directory: str | os.PathLike | None = None,
    ) -> None:
        if not 0 < min_lr < max_lr:
            raise ValueError(f"autoHyper: need 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
        if max_lr - min_lr < lr_delta:  # the search would end before its first trial
            raise ValueError(
                f"autoHyper: max_lr - min_lr must be at least lr_delta {lr_delta:g}, got {min_lr} and {max_lr}"
            )
        if num_split < 2:
            raise ValueError(f"autoHyper: num_split must be at least 2, got {num_split}")
        if max_trials is not None and max_trials < 1:
            raise ValueError(f"autoHyper: max_trials must be at least 1, got {max_trials}")
        if not lr_ceiling >= max_lr:
            raise ValueError(f"autoHyper: lr_ceiling must be at least max_lr, got {lr_ceiling} and {max_lr}")
        self.train_fn = train_fn
        self.min_lr, self.max_lr, self.num_split = min_lr, max_lr, num_split
        self.min_delta, self.lr_delta, self.power = min_delta, lr_delta, power
        self.max_plateaus, self.max_trials = max_plateaus, max_trials
        self.lr_ceiling, self.max_reversals = lr_ceiling, max_reversals
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

    def _oscillating(self) -> bool:
        """Whether the trailing ``all-zero`` and ``early-cross`` rows change from one to the other
        more than ``max_reversals`` times."""
        bounces = list(itertools.takewhile(BOUNCES.__contains__, (msg for *_, msg in reversed(self.history))))
        return sum(later != earlier for later, earlier in zip(bounces, bounces[1:])) > self.max_reversals

    def run(self) -> AutoHyperResult:
        self.history = []
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        low, high = self.min_lr, self.max_lr
        grid = np.geomspace(low, high, self.num_split)
        index, plateaus, first_scan = 0, 0, True
        ranks: list[float] = []  # this scan's ranks, for the plateau rule
        trained: list[float] = []
        rank = -1.0  # no trial yet on this grid

        def zoom(new_low: float, new_high: float) -> None:
            nonlocal low, high, grid, index, ranks, rank
            low, high = new_low, new_high
            grid, index, ranks, rank = np.geomspace(low, high, self.num_split), 0, [], -1.0

        while True:
            if index == len(grid):
                low, high = grid[-2], grid[-1] * 1.5  # the same scan, continued: the ranks are kept
                grid, index, rank = np.geomspace(low, high, self.num_split), 0, -1.0
                self._record(grid[-1], -1.0, "end-reached")
                continue
            if abs(high - low) < self.lr_delta:
                exit_rule = "exit-delta"
                break
            if len(trained) == self.max_trials:
                exit_rule = "exit-budget"
                break
            if grid[index] > self.lr_ceiling:
                exit_rule = "exit-ceiling"
                break
            if self._oscillating():
                exit_rule = "exit-oscillation"
                break
            lr = float(grid[index])
            rank = self.rank(lr)
            trained.append(lr)
            ranks.append(rank)
            if np.isclose(rank, 1.0):
                self._record(lr, rank, "all-zero")
                zoom(low * 5, high if low * 5 <= high else low * 5 * 1.5)
                continue
            if index == 0:
                if first_scan and rank < 0.5:
                    self._record(lr, rank, "early-cross")
                    zoom(low / 10, high)
                    continue
            else:
                first_scan = False
                if np.isclose(rank, 0.0):
                    self._record(lr, rank, "reach-100")
                    below = grid[max(index - 2, 0)]
                    zoom(below, grid[index - 1] if grid[index - 1] != below else (below + lr) / 2)
                    continue
                if np.prod(ranks) ** self.power < self.min_delta:
                    self._record(lr, rank, "plateau")
                    plateaus += 1
                    zoom(grid[max(index - 2, 0)], lr)
                    if plateaus > self.max_plateaus:
                        exit_rule = "exit-counter"
                        break
                    continue
            self._record(lr, rank, "nothing")
            index += 1
        self._record(grid[index], -1.0, exit_rule)  # as the reference: the next rate, not trained
        return AutoHyperResult(
            _trained_top(low, high, trained),
            list(self.history),
            exit_rule in CONVERGED_EXITS,
            exit_rule,
            (float(low), float(high)),
            trained[-1] if trained else None,
        )


def _trained_top(low: float, high: float, trained: list[float]) -> float | None:
    """The top of the range ``[low, high]`` if it was trained, else the highest rate trained in
    the range, else the last rate trained (None: nothing was)."""
    inside = [lr for lr in trained if low * (1 - 1e-9) <= lr <= high * (1 + 1e-9)]
    if inside:
        return max(inside)
    return trained[-1] if trained else None


def tune_lr(train_fn: Callable[[float], Any], directory: str | os.PathLike, **options: Any) -> AutoHyperResult:
    """Run autoHyper around ``train_fn`` (``lrrt.csv`` goes into ``directory``) and return its
    result: ``result.lr`` and whether it ``converged``. ``options`` are :class:`AutoHyper`'s
    keyword arguments."""
    return AutoHyper(train_fn, directory=directory, **options).run()
