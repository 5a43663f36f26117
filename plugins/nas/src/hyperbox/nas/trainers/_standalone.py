"""Stand-alone training: every trial trains its own architecture from scratch."""

from __future__ import annotations

from typing import Any

from torch import nn

from hyperbox.nas.estimators._accuracy import logits_of
from hyperbox.nas.trainers._augment import batch_transform, check_augment
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint, check_checkpoint_every
from hyperbox.nas.trainers._followers import TRIAL, LeadsFollowers
from hyperbox.nas.trainers._optim import (
    check_milestones,
    check_non_negative,
    check_optimization,
    check_positive_int,
    make_optimizer,
    make_scheduler,
)
from hyperbox.nas.trainers._precision import check_precision
from hyperbox.nas.trainers._training import Training


class StandaloneTrainer(LeadsFollowers):
    """Train each trial's architecture from scratch on the training split.

    The subnet is a fresh copy cut from the supernet (``build_subnet``): it starts from the
    supernet's untrained initial weights and the supernet itself is never trained, so no trial
    inherits another's training. After each epoch ``context.report(epoch, {"train_loss",
    "val_loss", "val_accuracy"})`` lets a pruner stop the trial. Runs on ``device`` (default: the
    run's device). ``augment`` (a batch transform; in an experiment ``none``, ``autoaugment``,
    ``randaugment``, ``trivialaugment`` or a policy JSON file) augments each training batch there.
    Returns the trained subnet in eval mode.
    """

    trials_on_every_rank = True

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
        checkpoint_every: int | None = None,
        precision: int | str = 32,
        sync_bn: bool = False,
        device: str | None = None,
        augment: Any = None,
    ) -> None:
        check_positive_int("epochs", epochs)
        check_checkpoint_every(checkpoint_every, allow_none=True)
        check_precision(precision)
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
        self.checkpoint_every, self.precision, self.sync_bn = checkpoint_every, precision, sync_bn

    def trial(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any) -> nn.Module:
        with self._lead(context, TRIAL, {"arch": arch, "seed": context.seed}) as processes:
            trial = getattr(context, "trial", None)
            path = None if trial is None else context.state_path(f"trial-{trial.number}.last.pt")
            identity = {"arch": arch, "seed": context.seed}  # a resumed search may propose another
            checkpoint = EpochCheckpoint(path, self.checkpoint_every, processes, identity=identity)
            training = Training(processes, checkpoint, self.precision, self.sync_bn)
            try:
                network = self._train(model, arch, data, context, training)
            except Exception:  # pruned or failed: nothing to resume
                checkpoint.discard()
                raise
        checkpoint.discard()
        return network

    def _train(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any, training: Training) -> nn.Module:
        from hyperbox.nas.subnet import build_subnet

        processes = training.processes
        network = build_subnet(model, arch).to(training.device)
        augment = batch_transform(self.augment, training.device)
        optimizer = make_optimizer(self.optimizer, network.parameters(), self.lr, self.momentum, self.weight_decay)
        scheduler = make_scheduler(self.scheduler, optimizer, self.epochs, self.step_size, self.gamma, self.milestones)
        state = {"model": network, "optimizer": optimizer, "scheduler": scheduler, "scaler": training.precision.scaler}
        start = training.restore(context.resumed, state)
        wrapped = training.wrap(network, supernet=False)
        criterion = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        batch_size = self.batch_size or data.batch_size
        for epoch in range(start, self.epochs):
            wrapped.train()
            loss_sum, seen = 0.0, 0
            for inputs, targets in processes.batches(data, "train", batch_size, seed=context.seed, epoch=epoch):
                inputs, targets = augment(inputs.to(training.device)), targets.to(training.device)
                with training.precision.autocast():
                    loss = criterion(logits_of(wrapped(inputs)), targets)
                optimizer.zero_grad(set_to_none=True)
                training.precision.backward(loss)
                training.precision.step(optimizer, network.parameters(), self.grad_clip)
                loss_sum += loss.item() * len(targets)
                seen += len(targets)
            if scheduler is not None:
                scheduler.step()
            metrics = training.means({"train_loss": loss_sum}, seen)
            if len(data.val):
                metrics["val_accuracy"], metrics["val_loss"] = training.evaluate(network, data, "val", batch_size)
            training.end_of_epoch(context, epoch, metrics, state)
        return network.eval()
