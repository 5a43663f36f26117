"""The processes of one training under ``torch.distributed`` (started by ``torchrun`` or ``hbk run --nproc``).

A trainer asks :func:`join` for its :class:`Processes`: one process when no process group is
launched (``WORLD_SIZE`` unset or 1), else this rank among ``WORLD_SIZE``, the process group
initialised from torchrun's environment (gloo on CPU, nccl on CUDA, each rank on the GPU of its
``LOCAL_RANK``). The same trainer code then runs on every rank: data sharded per rank as
``DistributedSampler`` shards it, gradients averaged by ``DistributedDataParallel``, metrics
summed over ranks before they are reported, and files written by rank 0 alone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, Subset, TensorDataset

from hyperbox.kernel import ConfigError, TrialPruned
from hyperbox.nas.estimators._device import resolve_device

__all__ = ["OutOfStep", "Processes", "join", "leave"]

#: torch's own switch for collective checks; at INFO or DETAIL the ranks also compare the
#: architectures they train at every step.
DEBUG_ENV = "TORCH_DISTRIBUTED_DEBUG"
#: How long the other ranks wait for rank 0's next word (:meth:`Processes.broadcast` with
#: ``patient``): rank 0's search may estimate trials for hours between two trainings, far beyond
#: the process group's collective timeout (gloo 30 min, nccl 10 min). torchrun ends every rank
#: when one fails, so a rank 0 that died leaves nobody waiting this long.
PATIENCE = datetime.timedelta(days=7)

_patient_group: Any = None  # the process group for patient broadcasts, made at the first one


class OutOfStep(RuntimeError):
    """The ranks of one training disagree on what they train (their architectures differ)."""


def world_size() -> int:
    """The number of processes torchrun launched (1 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def join(requested: str | None, context: Any) -> Processes:
    """This process among the processes of the training, on ``requested`` (else the run's device);
    initialises the process group from torchrun's environment the first time."""
    device = resolve_device(requested, context)
    if world_size() <= 1:
        return Processes(device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # torch's default backends: gloo for CPU tensors, nccl for CUDA ones (so that rank 0 can
        # join the group without knowing the device, see LeadsFollowers.close)
        dist.init_process_group()
    debug = os.environ.get(DEBUG_ENV, "OFF").upper() in ("INFO", "DETAIL")
    return Processes(device, dist.get_rank(), dist.get_world_size(), debug=debug)


def leave() -> None:
    """Leave the process group (when this process joined one)."""
    global _patient_group
    _patient_group = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _patient() -> Any:
    global _patient_group
    if _patient_group is None:  # every rank reaches its first patient broadcast in the same order
        _patient_group = dist.new_group(backend="gloo", timeout=PATIENCE)
    return _patient_group


class Processes:
    """This rank among ``size`` processes training one model (one process: rank 0 of 1, and every
    method is the single-process behaviour)."""

    def __init__(self, device: torch.device, rank: int = 0, size: int = 1, *, debug: bool = False) -> None:
        self.device, self.rank, self.size, self.debug = device, rank, size, debug

    @property
    def leader(self) -> bool:
        """Rank 0: the process that writes files and reports metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    # -- data -------------------------------------------------------------------------------------
    def batches(
        self, data: Any, split: str, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True
    ) -> DataLoader:
        """This rank's batches of ``split`` in ``epoch``: ``DistributedSampler``'s shard of an order
        drawn from ``seed + epoch`` (so an epoch's order is known without the epochs before it, and
        a resumed training sees the same batches). ``batch_size`` is per process; a last batch too
        short for BatchNorm is dropped when the shard holds more than one batch."""
        dataset = data.split(split)
        if len(dataset) == 0:
            raise ValueError(f"split {split!r} is empty (its fraction is 0?)")
        sampler = DistributedSampler(dataset, num_replicas=self.size, rank=self.rank, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
        drop_last = len(sampler) > batch_size
        if isinstance(dataset, TensorDataset):  # whole batches of indices at once, as DataSplits.loader does
            return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last), batch_size=None)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)

    def evaluation_batches(self, data: Any, split: str, batch_size: int) -> tuple[DataLoader, int]:
        """This rank's share of ``split`` for an evaluation, and its size: every ``size``-th sample
        from ``rank``, none repeated, so that sums over ranks count each sample once."""
        dataset = data.split(split)
        share = range(self.rank, len(dataset), self.size)
        if isinstance(dataset, TensorDataset):  # whole batches of indices at once, as DataSplits.loader does
            return DataLoader(dataset, sampler=BatchSampler(share, batch_size, False), batch_size=None), len(share)
        if self.distributed:
            dataset = Subset(dataset, share)
        return DataLoader(dataset, batch_size=batch_size), len(share)

    # -- models -----------------------------------------------------------------------------------
    def wrap(self, model: nn.Module, *, supernet: bool = True, sync_bn: bool = False) -> nn.Module:
        """``model`` under ``DistributedDataParallel`` (its parameters and buffers broadcast from
        rank 0 now; gradients averaged in each backward). A ``supernet`` step leaves parameters
        unused: DDP finds them, so they neither hang the reduction nor get averaged with zeros (a
        parameter no rank used keeps its gradient). ``sync_bn`` converts torch's BatchNorm layers to
        ``SyncBatchNorm`` (statistics over every rank's batch); without it each rank normalises by
        its own batch, as Lightning's DDP does by default. One process: ``model`` itself."""
        if sync_bn:
            check_sync_bn_device(self.device)
            check_sync_bn(model)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if self.distributed else model
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=supernet)

    def average_gradients(self, gradients: Sequence[torch.Tensor]) -> None:
        """Average ``gradients`` (computed outside DDP's backward, e.g. architecture weights') over ranks."""
        if not self.distributed or not gradients:
            return
        flat = torch.cat([gradient.reshape(-1) for gradient in gradients])  # one collective for them all
        dist.all_reduce(flat)
        flat.div_(self.size)
        for gradient, average in zip(gradients, flat.split([g.numel() for g in gradients])):
            gradient.copy_(average.view_as(gradient))

    # -- agreement --------------------------------------------------------------------------------
    def broadcast(self, value: Any, *, patient: bool = False) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object). ``patient``: the other ranks wait
        for it up to :data:`PATIENCE` rather than the process group's timeout (rank 0 may be busy
        with its search, not training)."""
        if not self.distributed:
            return value
        holder = [value]
        if patient:
            dist.broadcast_object_list(holder, src=0, group=_patient())
        else:
            dist.broadcast_object_list(holder, src=0, device=self.device if self.device.type == "cuda" else None)
        return holder[0]

    def check_same(self, what: str, value: Any) -> None:
        """In debug mode (``TORCH_DISTRIBUTED_DEBUG=INFO`` or ``DETAIL``), compare a digest of
        ``value`` (JSON) on every rank: a rank out of step raises :class:`OutOfStep`."""
        if not (self.distributed and self.debug):
            return
        text = json.dumps(value, sort_keys=True, default=str)
        digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)
        mine = torch.tensor([digest], dtype=torch.int64, device=self.device)
        everyone = [torch.empty_like(mine) for _ in range(self.size)]
        dist.all_gather(everyone, mine)
        differing = [rank for rank, theirs in enumerate(everyone) if int(theirs) != int(everyone[0])]
        if differing:
            raise OutOfStep(
                f"{what}: ranks {differing} train another architecture than rank 0 ({text} on rank {self.rank})"
            )

    # -- metrics ----------------------------------------------------------------------------------
    def sums(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over ranks."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def report(self, context: Any, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report ``metrics`` (already reduced over ranks) through rank 0; when the search prunes
        the trial there, every rank raises :class:`TrialPruned`, so that none waits for the others."""
        if not self.distributed:
            context.report(epoch, metrics)
            return
        pruned = None
        if self.leader:
            try:
                context.report(epoch, metrics)
            except TrialPruned as error:
                pruned = error
        if self.broadcast(pruned is not None):
            raise pruned if pruned is not None else TrialPruned(f"pruned at epoch {epoch} on rank 0")


def check_sync_bn_device(device: torch.device) -> None:
    """``sync_bn`` needs CUDA: torch's ``SyncBatchNorm`` runs on GPUs only."""
    if device.type != "cuda":
        raise ConfigError(f"sync_bn: true needs CUDA devices (torch's SyncBatchNorm); the training runs on {device}")


def check_sync_bn(model: nn.Module) -> None:
    """``sync_bn`` converts torch's own BatchNorm layers only."""
    searchable = [name for name, module in model.named_modules() if type(module).__name__.startswith("BatchNorm")
                  and not isinstance(module, nn.modules.batchnorm._BatchNorm)]  # fmt: skip
    if searchable:
        raise ConfigError(
            f"sync_bn: true: {searchable[0]!r} is a searchable BatchNorm, which SyncBatchNorm cannot replace; "
            "use sync_bn: false"
        )
