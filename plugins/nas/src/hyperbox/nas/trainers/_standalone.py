"""Stand-alone training: every trial trains its own architecture from scratch."""

from __future__ import annotations

from typing import Any

from torch import nn

from hyperbox.nas.estimators._accuracy import evaluate, logits_of
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.trainers._augment import batch_transform, check_augment
from hyperbox.nas.trainers._optim import (
    check_milestones,
    check_non_negative,
    check_optimization,
    check_positive_int,
    make_optimizer,
    make_scheduler,
)


class StandaloneTrainer:
    """Train each trial's architecture from scratch on the training split.

    The subnet is a fresh copy cut from the supernet (``build_subnet``): it starts from the
    supernet's untrained initial weights and the supernet itself is never trained, so no trial
    inherits another's training. After each epoch ``context.report(epoch, {"train_loss",
    "val_loss", "val_accuracy"})`` lets a pruner stop the trial. Runs on ``device`` (default: the
    run's device). ``augment`` (a batch transform; in an experiment ``none``, ``autoaugment``,
    ``randaugment``, ``trivialaugment`` or a policy JSON file) augments each training batch there.
    Returns the trained subnet in eval mode.
    """

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        scheduler: str | None = "cosine",
        step_size: int | None = None,
        gamma: float = 0.1,
        milestones: list[int] | None = None,
        label_smoothing: float = 0.0,
        grad_clip: float | None = None,
        device: str | None = None,
        augment: Any = None,
    ) -> None:
        check_positive_int("epochs", epochs)
        check_positive_int("batch_size", batch_size, allow_none=True)
        check_positive_int("step_size", step_size, allow_none=True)
        check_optimization(optimizer, lr, momentum, weight_decay, scheduler)
        check_milestones(milestones)
        check_non_negative("grad_clip", grad_clip, allow_none=True)
        check_augment(augment)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1)")
        self.epochs, self.batch_size = epochs, batch_size
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.scheduler, self.step_size, self.gamma, self.milestones = scheduler, step_size, gamma, milestones
        self.label_smoothing, self.grad_clip, self.device = label_smoothing, grad_clip, device
        self.augment = augment

    def trial(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any) -> nn.Module:
        from hyperbox.nas.subnet import build_subnet

        device = resolve_device(self.device, context)
        network = build_subnet(model, arch).to(device)
        augment = batch_transform(self.augment, device)
        optimizer = make_optimizer(self.optimizer, network.parameters(), self.lr, self.momentum, self.weight_decay)
        scheduler = make_scheduler(self.scheduler, optimizer, self.epochs, self.step_size, self.gamma, self.milestones)
        criterion = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        batch_size = self.batch_size or data.batch_size
        drop_last = len(data.train) > batch_size  # a last batch of one sample would break BatchNorm
        batches = data.loader("train", batch_size, shuffle=True, seed=context.seed, drop_last=drop_last)
        for epoch in range(self.epochs):
            network.train()
            loss_sum, seen = 0.0, 0
            for inputs, targets in batches:
                inputs, targets = augment(inputs.to(device)), targets.to(device)
                loss = criterion(logits_of(network(inputs)), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip:
                    nn.utils.clip_grad_norm_(network.parameters(), self.grad_clip)
                optimizer.step()
                loss_sum += loss.item() * len(targets)
                seen += len(targets)
            if scheduler is not None:
                scheduler.step()
            metrics = {"train_loss": loss_sum / seen}
            if len(data.val):
                metrics["val_accuracy"], metrics["val_loss"] = evaluate(network, data.loader("val", batch_size), device)
            context.report(epoch, metrics)
        return network.eval()
