"""Ranks other than 0 follow rank 0's trainer: one search, its trainings spread over every rank.

Only rank 0 runs the search (it proposes, records and estimates). Before each training it tells
the other ranks what to train: ``fit`` (a supernet's or DARTS's search phase) or ``trial`` (an
architecture and its seed); they run the same trainer method on their shard of the data, in step
with rank 0, until the search ends (``close``). The kernel calls ``follow`` on those ranks.
"""

from __future__ import annotations

from typing import Any

import attrs

from hyperbox.kernel import TrialPruned
from hyperbox.nas.trainers._distributed import Processes, join

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


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
