"""One-shot training: one supernet, its weights shared by every architecture, trained once."""

from __future__ import annotations

import random
from typing import Any

from torch import nn

from hyperbox.kernel import ConfigError, SearchSpace
from hyperbox.nas.estimators._accuracy import logits_of
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.estimators._plain import mark_shared_statistics
from hyperbox.nas.trainers._augment import batch_transform, check_augment
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint, TrainingResult, check_checkpoint_every
from hyperbox.nas.trainers._distributed import Processes
from hyperbox.nas.trainers._followers import FIT, LeadsFollowers
from hyperbox.nas.trainers._optim import (
    check_milestones,
    check_non_negative,
    check_optimization,
    check_positive_int,
    make_optimizer,
    make_scheduler,
)
from hyperbox.nas.trainers._precision import check_precision
from hyperbox.nas.trainers._sampling import step_architectures
from hyperbox.nas.trainers._training import Training

SAMPLINGS = ("uniform", "sandwich")
CHECKPOINT = "supernet.pt"


class SupernetTrainer(LeadsFollowers):
    """Base of trainers that train a weight-sharing supernet once, in ``fit``, then hand each trial
    its subnet with the shared weights.

    ``fit`` restores the decisions in place before training, saves the weights to ``supernet.pt``
    in the run directory and, in a resumed run, loads them instead of training again; subclasses
    implement ``_train(model, space, data, context, device)`` and set ``self.device``.
    ``trial`` returns the plain subnet of ``arch`` with the supernet's weights (a copy): estimate
    it with BatchNorm recalibrated (the accuracy estimator's default for supernet subnets).
    """

    device: str | None = None
    checkpoint_name: str = CHECKPOINT
    checkpoint_every: int | None = 1
    precision: int | str = 32
    sync_bn: bool = False

    def fit(self, model: nn.Module, mutator: Any, data: Any, context: Any) -> None:
        if getattr(model, "builds_per_architecture", False):
            raise ConfigError(
                f"trainer 'oneshot': {type(model).__name__} builds its layers for each architecture and shares no "
                "weights between them, so there is no supernet to train; use the standalone trainer"
            )
        with self._lead(context, FIT) as processes:
            self._fit(model, data, context, processes)

    def _fit(self, model: nn.Module, data: Any, context: Any, processes: Processes) -> None:
        model.to(processes.device)
        result = TrainingResult(context, self.checkpoint_name, processes)
        saved = result.load()
        if saved is not None:
            model.load_state_dict(saved)
            context.log.info("supernet_loaded", path=str(result.path))
            return
        space = SearchSpace.of(model)
        # The decisions in place before training come back afterwards, as JSON (unambiguous to re-apply).
        before = [(m, None if m.decision is None else m.domain.to_json(m.decision)) for m in space.mutables()]
        checkpoint = EpochCheckpoint(context.state_path(self.epoch_checkpoint_name), self.checkpoint_every, processes)
        try:
            self._train(model, space, data, context, Training(processes, checkpoint, self.precision, self.sync_bn))
        finally:
            for mutable, decision in before:
                mutable.decision = decision
        result.save(model.state_dict())
        checkpoint.discard()

    @property
    def epoch_checkpoint_name(self) -> str:
        """The file of the last epoch's training state (``supernet.last.pt`` beside ``supernet.pt``)."""
        stem, _, suffix = self.checkpoint_name.rpartition(".")
        return f"{stem}.last.{suffix}"

    def _train(self, model: nn.Module, space: SearchSpace, data: Any, context: Any, training: Training) -> None:
        raise NotImplementedError

    def trial(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any) -> nn.Module:
        from hyperbox.nas.subnet import build_subnet

        return mark_shared_statistics(build_subnet(model, arch)).to(resolve_device(self.device, context))


class OneShotTrainer(SupernetTrainer):
    """Train the supernet once with weight sharing, then hand each trial its subnet with the shared weights.

    ``fit`` samples architectures per step with its own generator (seeded by the run) through the
    kernel search space, so the search mutator's state stays untouched: ``"uniform"`` trains one
    uniformly drawn single path per step; ``"sandwich"`` (BigNAS / Once-for-All) the largest, the
    smallest and ``sandwich_n`` random architectures, their gradients summed before one optimizer
    step. ``augment`` (a batch transform) augments each training batch on the training device.
    Reports ``train_loss`` per epoch; checkpoints and trials as :class:`SupernetTrainer`.
    """

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 3e-5,
        scheduler: str | None = "cosine",
        step_size: int | None = None,
        gamma: float = 0.1,
        milestones: list[int] | None = None,
        sampling: str = "uniform",
        sandwich_n: int = 2,
        label_smoothing: float = 0.0,
        grad_clip: float | None = None,
        checkpoint_every: int | None = 1,
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
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling={sampling!r} must be 'uniform' or 'sandwich'")
        if isinstance(sandwich_n, bool) or not isinstance(sandwich_n, int) or sandwich_n < 0:
            raise ValueError(f"sandwich_n={sandwich_n!r} must be an integer >= 0")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1)")
        self.epochs, self.batch_size = epochs, batch_size
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.scheduler, self.step_size, self.gamma, self.milestones = scheduler, step_size, gamma, milestones
        self.sampling, self.sandwich_n = sampling, sandwich_n
        self.label_smoothing, self.grad_clip, self.device = label_smoothing, grad_clip, device
        self.augment = augment
        self.checkpoint_every, self.precision, self.sync_bn = checkpoint_every, precision, sync_bn

    def _train(self, model: nn.Module, space: SearchSpace, data: Any, context: Any, training: Training) -> None:
        # Every rank draws the same architectures from the same seed (compared in debug mode).
        rng = random.Random(context.seed)
        optimizer = make_optimizer(self.optimizer, model.parameters(), self.lr, self.momentum, self.weight_decay)
        scheduler = make_scheduler(self.scheduler, optimizer, self.epochs, self.step_size, self.gamma, self.milestones)
        state = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
                 "scaler": training.precision.scaler, "sampler": rng}  # fmt: skip
        start = training.restore(context.resumed, state)
        network = training.wrap(model)
        criterion = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        batch_size = self.batch_size or data.batch_size
        augment = batch_transform(self.augment, training.device)
        for epoch in range(start, self.epochs):
            model.train()
            loss_sum, steps = 0.0, 0
            for inputs, targets in training.processes.batches(
                data, "train", batch_size, seed=context.seed, epoch=epoch
            ):
                inputs, targets = augment(inputs.to(training.device)), targets.to(training.device)
                optimizer.zero_grad(set_to_none=True)
                loss_sum += self.step(network, space, step_architectures(space, rng, self.sampling, self.sandwich_n),
                                      inputs, targets, criterion, optimizer, training)  # fmt: skip
                steps += 1
            if scheduler is not None:
                scheduler.step()
            training.end_of_epoch(context, epoch, training.means({"train_loss": loss_sum}, steps), state)

    def step(self, network, space, archs, inputs, targets, criterion, optimizer, training: Training) -> float:
        """One optimizer step over ``archs`` (their gradients summed); returns their mean loss."""
        training.processes.check_same("oneshot step", archs)
        loss_sum = 0.0
        for arch in archs:
            space.apply(arch)
            with training.precision.autocast():
                loss = criterion(logits_of(network(inputs)), targets)
            training.precision.backward(loss)  # gradients of the step's architectures add up
            loss_sum += loss.item() / len(archs)
        training.precision.step(optimizer, network.parameters(), self.grad_clip)
        return loss_sum
