"""Ranks other than 0 follow rank 0's trainer: one search, its trainings spread over every rank.

Only rank 0 runs the search (it proposes, records and estimates). Before each training it tells
the other ranks what to train: ``fit`` (a supernet's or DARTS's search phase) or ``trial`` (an
architecture and its seed); they run the same trainer method on their shard of the data, in step
with rank 0, until the search ends (``close``). The kernel calls ``follow`` on those ranks.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import torch

from hyperbox.kernel import ConfigError, TrialPruned
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.trainers._distributed import Processes, check_sync_bn_device, join
from hyperbox.nas.trainers._precision import Precision

__all__ = ["LeadsFollowers"]

FIT, TRIAL, END = "fit", "trial", "end"


class LeadsFollowers:
    """Mixin of trainers that train on every rank of ``torch.distributed``: ``fit`` and ``trial``
    call :meth:`_lead` first; ``follow`` runs them on the other ranks."""

    device: str | None = None
    _processes: Processes | None = None

    def _lead(self, context: Any, command: str, payload: Any = None) -> Processes:
        """This rank's :class:`Processes`; on rank 0 of several, tell the others to run ``command``."""
        processes = join(self.device, context)
        self._processes = processes
        if processes.distributed and processes.leader:
            processes.broadcast((command, payload))
        return processes

    def check_launch(self, device: str, processes: int) -> None:
        """Refuse, before any process starts, a training on ``processes`` processes that ``device``
        (the trainer's own, else the run's) cannot hold: more processes than CUDA devices or CPU
        cores, ``precision: 16-mixed`` or ``sync_bn`` off CUDA."""
        try:
            where = resolve_device(self.device, _Device(device))
        except ValueError as error:
            raise ConfigError(f"--nproc {processes}: {error}") from None
        if where.type == "cuda":
            count, what = torch.cuda.device_count(), "CUDA devices (CUDA_VISIBLE_DEVICES)"
        else:
            count, what = os.cpu_count() or 1, "CPU cores"
        if processes > count:
            raise ConfigError(f"--nproc {processes}: this machine has {count} {what}; give at most --nproc {count}")
        Precision(getattr(self, "precision", 32), where)
        if getattr(self, "sync_bn", False):
            check_sync_bn_device(where)

    def follow(self, model: Any, mutator: Any, data: Any, context: Any) -> None:
        """On a rank other than 0: run each training rank 0 runs, until its search ends."""
        processes = join(self.device, context)
        self._processes = processes
        while True:
            command, payload = processes.broadcast(None)
            if command == END:
                break
            try:
                if command == FIT:
                    self.fit(model, mutator, data, context)
                else:
                    self.trial(model, payload["arch"], data, attrs.evolve(context, seed=payload["seed"]))
            except TrialPruned:  # rank 0's search pruned the trial: so do we
                continue
        _leave()

    def close(self) -> None:
        """Rank 0's search has ended: the other ranks stop following."""
        processes = self._processes
        if processes is not None and processes.distributed and processes.leader:
            processes.broadcast((END, None))
            _leave()
        self._processes = None


@attrs.frozen
class _Device:
    """The run's device, as a context gives it."""

    device: str


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
