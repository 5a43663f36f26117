"""Ranks other than 0 follow rank 0's trainer: one search, its trainings spread over every rank.

Only rank 0 runs the search (it proposes, records and estimates). Before each training it tells
the other ranks what to train: ``fit`` (a supernet's or DARTS's search phase) or ``trial`` (an
architecture and its seed); they run the same trainer method on their shard of the data, in step
with rank 0. A supernet's trials run on rank 0 alone, so the other ranks leave once ``fit`` has
ended; a stand-alone trainer's ranks wait (without the process group's timeout) for each trial
until the search ends (``close``). The kernel calls ``follow`` on those ranks.

A training that fails on one rank fails the run: the ranks cannot agree on what to do next
while some are still inside the failed training's collectives, and torchrun ends every rank
when one exits with an error.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import attrs
import torch

from hyperbox.kernel import ConfigError, HyperboxError, TrialPruned
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.trainers._distributed import (
    Processes,
    check_sync_bn,
    check_sync_bn_device,
    join,
    leave,
    world_size,
)
from hyperbox.nas.trainers._precision import Precision

__all__ = ["LeadsFollowers"]

FIT, TRIAL, END = "fit", "trial", "end"


class LeadsFollowers:
    """Mixin of trainers that train on every rank of ``torch.distributed``: ``fit`` and ``trial``
    run their training inside :meth:`_lead`; ``follow`` runs them on the other ranks."""

    device: str | None = None
    #: whether ``trial`` trains on every rank (stand-alone training); else only ``fit`` does, and
    #: the other ranks leave when it ends
    trials_on_every_rank: bool = False
    _released = False  # rank 0 has let the other ranks go (or they are gone)

    @contextlib.contextmanager
    def _lead(self, context: Any, command: str, payload: Any = None) -> Iterator[Processes]:
        """This rank's :class:`Processes` for one training; on rank 0 of several, tell the others to
        run ``command`` first. A training that raises on rank 0 under a process group ends the run."""
        processes = join(self.device, context)
        if processes.distributed and processes.leader:
            processes.broadcast((command, payload), patient=True)
        try:
            yield processes
        except TrialPruned:  # every rank was pruned together
            raise
        except Exception as error:
            if not processes.distributed:
                raise
            self._released = True  # the others may be inside the failed training: no word reaches them
            raise HyperboxError(
                f"{command} failed on rank {processes.rank} of {processes.size} "
                f"({type(error).__name__}: {error}); a distributed training stops at its first failure"
            ) from error
        if processes.distributed and processes.leader and command == FIT and not self.trials_on_every_rank:
            self._released = True  # the trials run on rank 0 alone: the others are done
            leave()

    def check_launch(self, device: str, processes: int, model: Any = None) -> None:
        """Refuse, before any process starts, a training on ``processes`` processes that ``device``
        (the trainer's own, else the run's) cannot hold: more processes than CUDA devices or CPU
        cores, ``precision: 16-mixed`` off CUDA, ``sync_bn`` off CUDA or on ``model``'s searchable
        BatchNorm layers."""
        if getattr(self, "sync_bn", False) and model is not None:
            check_sync_bn(model)
        try:
            where = resolve_device(self.device, _Device(device))
        except ValueError as error:
            raise ConfigError(f"--nproc {processes}: {error}") from None
        if where.type == "cuda":
            count, what = torch.cuda.device_count(), "CUDA devices (CUDA_VISIBLE_DEVICES)"
        else:
            count, what = _cpu_cores(), "CPU cores"
        if processes > count:
            raise ConfigError(f"--nproc {processes}: this machine has {count} {what}; give at most --nproc {count}")
        Precision(getattr(self, "precision", 32), where)
        if getattr(self, "sync_bn", False):
            check_sync_bn_device(where)

    def follow(self, model: Any, mutator: Any, data: Any, context: Any) -> None:
        """On a rank other than 0: run each training rank 0 runs, until its search ends (or, for a
        trainer whose trials run on rank 0 alone, until ``fit`` ends). A training that raises here
        raises (the run fails)."""
        processes = join(self.device, context)
        try:
            while True:
                command, payload = processes.broadcast(None, patient=True)
                if command == END:
                    break
                try:
                    if command == FIT:
                        self.fit(model, mutator, data, context)
                    else:
                        self.trial(model, payload["arch"], data, attrs.evolve(context, seed=payload["seed"]))
                except TrialPruned:  # rank 0's search pruned the trial: so do we
                    continue
                if command == FIT and not self.trials_on_every_rank:
                    break
        finally:
            leave()

    def close(self) -> None:
        """Rank 0's search has ended: the other ranks stop following (joining them first when the
        search never started a training, e.g. a resumed run with nothing left to train)."""
        if self._released or world_size() <= 1 or int(os.environ.get("RANK", "0")) != 0:
            return
        self._released = True
        try:
            join(self.device, None).broadcast((END, None), patient=True)
        finally:
            leave()


@attrs.frozen
class _Device:
    """The run's device, as a context gives it."""

    device: str


def _cpu_cores() -> int:
    """The cores this process may run on (its affinity, as a container or taskset limits it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
