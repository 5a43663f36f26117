"""Optimizers and learning-rate schedules named in experiment files, with their arguments checked."""

from __future__ import annotations

from collections.abc import Iterable

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("cosine", "step", "multistep", None)


def check_positive_int(name: str, value: int | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")


def check_non_negative(name: str, value: float | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name}={value!r} must be a number >= 0")


def check_optimization(optimizer: str, lr: float, momentum: float, weight_decay: float, scheduler: str | None) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} must be one of {', '.join(OPTIMIZERS)}")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler={scheduler!r} must be 'cosine', 'step', 'multistep' or null")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr={lr!r} must be a number > 0")
    check_non_negative("momentum", momentum)
    check_non_negative("weight_decay", weight_decay)


def make_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """SGD (Nesterov-free, with ``momentum``), Adam or AdamW (``momentum`` is ignored by the last two)."""
    parameters = [p for p in parameters if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


def make_scheduler(
    name: str | None,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    step_size: int | None,
    gamma: float,
    milestones: list[int] | None = None,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Stepped once per epoch: cosine annealing to 0 over ``epochs``; ``gamma`` decay every
    ``step_size`` epochs (default: a third of the epochs); or ``gamma`` decay at each of the
    ``milestones`` epochs (default: at half and three quarters of the epochs)."""
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size or max(epochs // 3, 1), gamma=gamma)
    if name == "multistep":
        at = milestones if milestones is not None else [max(epochs // 2, 1), max(3 * epochs // 4, 1)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=sorted(at), gamma=gamma)
    return None


def check_milestones(milestones: list[int] | None) -> None:
    if milestones is not None and any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones):
        raise ValueError(f"milestones={milestones!r} must be epochs >= 1")
