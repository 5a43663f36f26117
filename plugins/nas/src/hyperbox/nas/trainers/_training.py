"""What a trainer's loop needs to train at scale, in one handle: its processes (one, or the ranks of
``torch.distributed``), its epoch checkpoint and its precision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from hyperbox.nas.trainers._checkpoint import EpochCheckpoint
from hyperbox.nas.trainers._distributed import Processes
from hyperbox.nas.trainers._precision import Precision

__all__ = ["Training"]


class Training:
    """A training loop's ``processes``, ``checkpoint`` and ``precision`` (a name, see
    :mod:`~hyperbox.nas.trainers._precision`), with ``sync_bn`` for the models it wraps."""

    def __init__(
        self, processes: Processes, checkpoint: EpochCheckpoint, precision: int | str = 32, sync_bn: bool = False
    ) -> None:
        self.processes, self.checkpoint, self.sync_bn = processes, checkpoint, sync_bn
        self.precision = Precision(precision, processes.device)

    @property
    def device(self) -> Any:
        return self.processes.device

    def wrap(self, model: nn.Module, *, supernet: bool = True) -> nn.Module:
        """``model`` as it trains on every rank (see :meth:`Processes.wrap`)."""
        return self.processes.wrap(model, supernet=supernet, sync_bn=self.sync_bn)

    def restore(self, resumed: bool, objects: Mapping[str, Any]) -> int:
        """The epoch to start at: 0, or the one after the last checkpoint (its state loaded into ``objects``)."""
        return self.checkpoint.restore(resumed, objects)

    def means(self, sums: Mapping[str, float], count: float) -> dict[str, float]:
        """``sums`` over ``count`` items, each summed over ranks first: the means of the whole epoch."""
        totals = self.processes.sums([*sums.values(), count])
        return {name: total / max(totals[-1], 1) for name, total in zip(sums, totals)}

    def evaluate(self, model: nn.Module, data: Any, split: str, batch_size: int) -> tuple[float, float]:
        """``(accuracy, mean cross-entropy)`` of ``model`` on ``split``, each rank evaluating its share."""
        from hyperbox.nas.estimators._accuracy import evaluate

        batches, count = self.processes.evaluation_batches(data, split, batch_size)
        accuracy, loss = evaluate(model, batches, self.device) if count else (0.0, 0.0)
        means = self.means({"accuracy": accuracy * count, "loss": loss * count}, count)
        return means["accuracy"], means["loss"]

    def end_of_epoch(self, context: Any, epoch: int, metrics: Mapping[str, float], objects: Mapping) -> None:
        """Checkpoint ``objects`` when due, then report ``metrics`` (reduced over ranks) through rank 0."""
        self.checkpoint.end_of_epoch(epoch, objects)
        self.processes.report(context, epoch, metrics)
