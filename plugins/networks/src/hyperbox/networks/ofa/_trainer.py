"""Once-for-All progressive shrinking: train the largest network, then make kernel, depth and width elastic."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.nas.estimators._accuracy import logits_of
from hyperbox.nas.trainers._augment import batch_transform, check_augment
from hyperbox.nas.trainers._checkpoint import check_checkpoint_every
from hyperbox.nas.trainers._oneshot import SupernetTrainer
from hyperbox.nas.trainers._optim import (
    check_non_negative,
    check_optimization,
    check_positive_int,
    make_optimizer,
    make_scheduler,
)
from hyperbox.nas.trainers._precision import check_precision
from hyperbox.nas.trainers._sampling import extreme_decision
from hyperbox.nas.trainers._training import Training

__all__ = ["OFATrainer", "Phase", "soft_cross_entropy"]


#: Subnets per step in OFA's train_ofa_net.py (its ``dynamic_batch_size``) for each phase kind.
OFA_SUBNETS_PER_STEP = {"largest": 1, "kernel": 1, "depth": 2, "expand": 4}
#: What each phase makes anew, so what a resumed run starting a phase does not load.
FRESH = ("optimizer", "scheduler")


@dataclass(frozen=True)
class Phase:
    """One stage of progressive shrinking: which values each elastic dimension may take.

    ``allowed`` maps a dimension (``kernel``, ``depth``, ``expand``) to the values sampled in it;
    a dimension it leaves out stays at its largest value. ``expand_stage`` (expand phases only) is
    the argument of the channel sorting done before the phase.
    """

    name: str
    epochs: int
    allowed: dict[str, list] = field(default_factory=dict)
    expand_stage: int | None = None


def soft_cross_entropy(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Cross-entropy against the teacher's softened distribution, scaled by T^2 (Hinton et al.);
    at T = 1 it is OFA's ``cross_entropy_loss_with_soft_target``."""
    target = F.softmax(teacher_logits / temperature, dim=1)
    log_probabilities = F.log_softmax(logits / temperature, dim=1)
    return -(target * log_probabilities).sum(dim=1).mean() * temperature**2


class OFATrainer(SupernetTrainer):
    """Progressive shrinking (Cai et al., Once-for-All, ICLR 2020) of an ``OFAMobileNetV3`` supernet.

    ``fit`` runs the phases of OFA's ``train_ofa_net.py``, each with a fresh optimizer and schedule:

    1. ``largest``: the largest network (``largest_epochs``, learning rate ``lr``);
    2. ``kernel``: kernel sizes sampled, depth and expand ratio largest (``kernel_epochs``);
    3. ``depth``: kernel sampled, depths added from the largest down one per phase
       (``depth_epochs`` each: {3, 4}, then {2, 3, 4});
    4. ``expand``: everything sampled, expand ratios added the same way (``expand_epochs`` each),
       each phase preceded by OFA's sorting of the middle channels by importance.

    Phases 2-4 use ``shrink_lr`` (default ``lr``) and distil from the largest network as trained in
    phase 1 (a frozen copy, run in training mode as in OFA): loss = cross-entropy +
    ``kd_ratio`` x soft cross-entropy at ``kd_temperature``. Each step trains ``subnets_per_step``
    architectures drawn uniformly from the phase's values (default OFA's 1, 1, 2, 4 per phase
    kind), gradients summed before one optimizer step. A dimension with a single value has no
    phase; a phase of 0 epochs is skipped. Epochs are numbered across phases in the reports
    (``train_loss``). Checkpoint (``ofa_supernet.pt``) and trials as :class:`SupernetTrainer`;
    OFA recalibrates BatchNorm per subnet, as the accuracy estimator does. ``augment`` (a batch
    transform) augments each training batch on the training device; the teacher sees the same batch.
    """

    checkpoint_name = "ofa_supernet.pt"

    def __init__(
        self,
        largest_epochs: int = 4,
        kernel_epochs: int = 2,
        depth_epochs: int = 2,
        expand_epochs: int = 2,
        batch_size: int | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        shrink_lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 3e-5,
        scheduler: str | None = "cosine",
        kd_ratio: float = 1.0,
        kd_temperature: float = 1.0,
        subnets_per_step: int | None = None,
        label_smoothing: float = 0.0,
        grad_clip: float | None = None,
        checkpoint_every: int | None = 1,
        precision: int | str = 32,
        sync_bn: bool = False,
        device: str | None = None,
        augment: Any = None,
    ) -> None:
        check_augment(augment)
        check_checkpoint_every(checkpoint_every, allow_none=True)
        check_precision(precision)
        for name, value in (("largest_epochs", largest_epochs), ("kernel_epochs", kernel_epochs),
                            ("depth_epochs", depth_epochs), ("expand_epochs", expand_epochs)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} must be an integer >= 0")
        check_positive_int("batch_size", batch_size, allow_none=True)
        check_positive_int("subnets_per_step", subnets_per_step, allow_none=True)
        check_optimization(optimizer, lr, momentum, weight_decay, scheduler)
        if shrink_lr is not None:
            check_optimization(optimizer, shrink_lr, momentum, weight_decay, scheduler)
        check_non_negative("kd_ratio", kd_ratio)
        check_non_negative("grad_clip", grad_clip, allow_none=True)
        if isinstance(kd_temperature, bool) or not isinstance(kd_temperature, (int, float)) or kd_temperature <= 0:
            raise ValueError(f"kd_temperature={kd_temperature!r} must be a number > 0")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1)")
        self.largest_epochs, self.kernel_epochs = largest_epochs, kernel_epochs
        self.depth_epochs, self.expand_epochs = depth_epochs, expand_epochs
        self.batch_size, self.optimizer, self.lr = batch_size, optimizer, lr
        self.shrink_lr = lr if shrink_lr is None else shrink_lr
        self.momentum, self.weight_decay, self.scheduler = momentum, weight_decay, scheduler
        self.kd_ratio, self.kd_temperature, self.subnets_per_step = kd_ratio, kd_temperature, subnets_per_step
        self.label_smoothing, self.grad_clip, self.device = label_smoothing, grad_clip, device
        self.checkpoint_every, self.precision, self.sync_bn = checkpoint_every, precision, sync_bn
        self.augment = augment

    def phases(self, model: nn.Module) -> list[Phase]:
        """The progressive-shrinking schedule for ``model``'s lists, phases of 0 epochs left out."""
        kernels, depths, ratios = model.kernel_size_list, model.depth_list, model.expand_ratio_list
        phases = [Phase("largest", self.largest_epochs)]
        if len(kernels) > 1:
            phases.append(Phase("kernel", self.kernel_epochs, {"kernel": kernels}))
        for count in range(2, len(depths) + 1):
            phases.append(Phase("depth", self.depth_epochs, {"kernel": kernels, "depth": depths[-count:]}))
        for count in range(2, len(ratios) + 1):
            allowed = {"kernel": kernels, "depth": depths, "expand": ratios[-count:]}
            phases.append(Phase("expand", self.expand_epochs, allowed, expand_stage=count - 2))
        return [phase for phase in phases if phase.epochs > 0]

    def fit(self, model: nn.Module, mutator: Any, data: Any, context: Any) -> None:
        if not hasattr(model, "elastic_keys"):
            raise ValueError(f"OFATrainer trains an OFAMobileNetV3 supernet, got {type(model).__name__}")
        super().fit(model, mutator, data, context)

    def _train(self, model: nn.Module, space: SearchSpace, data: Any, context: Any, training: Training) -> None:
        from hyperbox.nas.subnet import build_subnet

        rng = random.Random(context.seed)
        largest = {key: extreme_decision(domain, True, rng) for key, domain in space.items()}
        # A resumed run skips the epochs before its checkpoint, phases included.
        saved = training.checkpoint.load(context.resumed)
        start = 0 if saved is None else saved["epoch"] + 1
        if saved is not None:
            training.checkpoint.apply(saved, {"model": model})  # the teacher may be cut from it
        network = training.wrap(model)
        teacher, epoch = None, 0
        for phase in self.phases(model):
            end = epoch + phase.epochs
            if end <= start:  # finished before the checkpoint
                epoch = end
                continue
            if phase.name != "largest" and teacher is None and self.kd_ratio > 0:
                # The frozen teacher: the largest network as phase 1 left it, in training mode as in OFA.
                teacher = build_subnet(model, space.to_json(largest)).requires_grad_(False).train()
            if phase.expand_stage is not None and epoch >= start:  # not again in a resumed phase
                model.sort_middle_channels(phase.expand_stage)
            context.log.info("ofa_phase", phase=phase.name, epochs=phase.epochs,
                             allowed={k: list(v) for k, v in phase.allowed.items()})  # fmt: skip
            choices = self._choices(model, phase, largest)
            lr = self.lr if phase.name == "largest" else self.shrink_lr
            optimizer = make_optimizer(self.optimizer, model.parameters(), lr, self.momentum, self.weight_decay)
            scheduler = make_scheduler(self.scheduler, optimizer, phase.epochs, None, 0.1)
            state = {"model": model, "teacher": teacher, "sampler": rng, "scaler": training.precision.scaler,
                     "optimizer": optimizer, "scheduler": scheduler}  # fmt: skip
            if saved is not None:
                # The model came back above (and a phase starting at the checkpoint has sorted its
                # channels since); such a phase also makes its optimizer and schedule anew.
                kept = ("model",) if epoch < start else ("model", *FRESH)
                training.checkpoint.apply(saved, {k: v for k, v in state.items() if k not in kept})
                saved = None
            subnets = self.subnets_per_step or OFA_SUBNETS_PER_STEP[phase.name]
            for epoch in range(max(epoch, start), end):
                loss = self._epoch(network, space, data, context, epoch, choices, subnets, teacher, optimizer, rng,
                                   training)  # fmt: skip
                if scheduler is not None:
                    scheduler.step()
                training.end_of_epoch(context, epoch, {"train_loss": loss}, state)
            epoch = end

    @staticmethod
    def _choices(model: nn.Module, phase: Phase, largest: dict) -> dict[str, list[int]]:
        """The decisions (indices) each key may take in ``phase``: the allowed values' indices, else the largest."""
        lists = {"kernel": model.kernel_size_list, "depth": model.depth_list, "expand": model.expand_ratio_list}
        choices = {key: [decision] for key, decision in largest.items()}
        for dimension, keys in model.elastic_keys.items():
            if dimension in phase.allowed:
                indices = [lists[dimension].index(value) for value in phase.allowed[dimension]]
                choices.update({key: indices for key in keys})
        return choices

    def _epoch(self, network, space, data, context, epoch, choices, subnets, teacher, optimizer, rng, training):
        """One epoch of one phase; returns the mean loss of the trained subnets (over every rank)."""
        criterion = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        network.train()
        loss_sum, steps = 0.0, 0
        batch_size = self.batch_size or data.batch_size
        augment = batch_transform(self.augment, training.device)
        for inputs, targets in training.processes.batches(data, "train", batch_size, seed=context.seed, epoch=epoch):
            inputs, targets = augment(inputs.to(training.device)), targets.to(training.device)
            teacher_logits = None
            if teacher is not None:
                with torch.no_grad(), training.precision.autocast():
                    teacher_logits = logits_of(teacher(inputs)).float()
            optimizer.zero_grad(set_to_none=True)
            for _ in range(subnets):
                # Uniform over the phase's values, key by key, as the one-shot trainer samples the space.
                arch = {key: rng.choice(indices) for key, indices in choices.items()}
                training.processes.check_same("ofa step", arch)
                space.apply(arch)
                with training.precision.autocast():
                    logits = logits_of(network(inputs))
                    loss = criterion(logits, targets)
                    if teacher_logits is not None:
                        loss = loss + self.kd_ratio * soft_cross_entropy(logits, teacher_logits, self.kd_temperature)
                training.precision.backward(loss)  # gradients of the step's subnets add up
                loss_sum += loss.item() / subnets
            training.precision.step(optimizer, network.parameters(), self.grad_clip)
            steps += 1
        return training.means({"train_loss": loss_sum}, steps)["train_loss"]
