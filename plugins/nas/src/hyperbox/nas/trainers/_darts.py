"""Differentiable search (DARTS, GDAS): architecture weights and network weights learnt in alternation."""

from __future__ import annotations

import contextlib
from itertools import cycle
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import ConfigError
from hyperbox.nas.estimators._accuracy import logits_of
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.estimators._plain import mark_shared_statistics
from hyperbox.nas.trainers._augment import batch_transform, check_augment
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint, TrainingResult, check_checkpoint_every
from hyperbox.nas.trainers._distributed import Processes
from hyperbox.nas.trainers._followers import FIT, LeadsFollowers
from hyperbox.nas.trainers._optim import check_non_negative, check_positive_int
from hyperbox.nas.trainers._precision import check_precision
from hyperbox.nas.trainers._training import Training

CHECKPOINT = "darts.pt"
#: the training state after the last finished epoch, while the search runs
EPOCH_CHECKPOINT = "darts.last.pt"
#: the validation batches' order is drawn from seed + VAL_ORDER + epoch: never the order of a
#: training epoch (seed + epoch), even when both splits have the same size
VAL_ORDER = 1_000_000


class DartsTrainer(LeadsFollowers):
    """Bilevel search of a differentiable mutator's (``darts``, ``gdas``) architecture weights.

    Each step first updates the architecture weights (Adam) on a validation batch, then the network
    weights (SGD, cosine from ``w_lr`` to ``w_lr_min``, gradients clipped to ``grad_clip``) on a
    training batch; the data's train and val splits are the two halves of the paper (give the
    dataset ``val_fraction=0.5`` for its protocol). First order (``unrolled=False``) uses the
    gradient of the validation loss; second order uses the paper's virtual step
    ``w' = w - xi * grad_w L_train`` (``xi`` = the current weight learning rate, with momentum and
    weight decay as the optimizer would apply them) and a finite-difference Hessian-vector product
    with ``eps = 0.01 / ||grad_w' L_val||``. A mutator with ``set_epoch`` (GDAS) anneals its
    temperature each epoch. ``train_loss``, ``val_loss`` and ``val_accuracy`` of the mixed
    supernet are reported per epoch; the supernet and architecture weights go to ``darts.pt`` and
    a resumed run loads them instead of searching again. ``augment`` (a batch transform) augments
    the training batches (not the validation batches) on the training device.

    ``trial`` returns the plain subnet of ``arch`` with the supernet's weights, without retraining;
    the derived architecture is ``mutator.export()`` (the argmax), to retrain from scratch with the
    stand-alone trainer for the paper's final evaluation.
    """

    def __init__(
        self,
        epochs: int = 50,
        batch_size: int | None = None,
        w_lr: float = 0.025,
        w_lr_min: float = 0.001,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        alpha_lr: float = 3e-4,
        alpha_weight_decay: float = 1e-3,
        unrolled: bool = False,
        grad_clip: float | None = 5.0,
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
        for name, value in (("w_lr", w_lr), ("alpha_lr", alpha_lr)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a number > 0")
        for name, value in (
            ("w_lr_min", w_lr_min),
            ("w_momentum", w_momentum),
            ("w_weight_decay", w_weight_decay),
            ("alpha_weight_decay", alpha_weight_decay),
        ):
            check_non_negative(name, value)
        check_non_negative("grad_clip", grad_clip, allow_none=True)
        check_augment(augment)
        self.epochs, self.batch_size = epochs, batch_size
        self.w_lr, self.w_lr_min, self.w_momentum, self.w_weight_decay = w_lr, w_lr_min, w_momentum, w_weight_decay
        self.alpha_lr, self.alpha_weight_decay = alpha_lr, alpha_weight_decay
        self.unrolled, self.grad_clip, self.device = unrolled, grad_clip, device
        self.augment = augment
        self.checkpoint_every, self.precision, self.sync_bn = checkpoint_every, precision, sync_bn
        self.criterion = nn.CrossEntropyLoss()

    # -- the search ----------------------------------------------------------------------------
    def fit(self, model: nn.Module, mutator: Any, data: Any, context: Any) -> None:
        if not hasattr(mutator, "arch_parameters"):
            raise ValueError(f"DartsTrainer needs a differentiable mutator (darts, gdas), got {type(mutator).__name__}")
        if getattr(model, "builds_per_architecture", False) and not hasattr(model, "materialize"):
            raise ConfigError(
                f"trainer 'darts': {type(model).__name__} builds a network for each architecture, with no candidates "
                "to weigh against each other; search it with random, evolution, optuna or mcts"
            )
        with self._lead(context, FIT) as processes:
            self._fit(model, mutator, data, context, processes)
        if hasattr(mutator, "fix"):
            # Leave mixed mode on the derived architecture: a network that knows its paper's
            # derivation rule (e.g. DARTS's top-2 edges by their strongest non-none op) applies it.
            derive = getattr(model, "derive_arch", None)
            mutator.fix(derive(mutator.probabilities()) if derive is not None else None)
        context.log.info("darts_derived", arch=mutator.export())

    def _fit(self, model: nn.Module, mutator: Any, data: Any, context: Any, processes: Processes) -> None:
        """Search (or, resumed after the search, load its result) on this rank."""
        model.to(processes.device)
        if hasattr(mutator, "to"):
            mutator.to(processes.device)  # the architecture weights live in the mutator
        alphas = list(mutator.arch_parameters())
        result = TrainingResult(context, CHECKPOINT, processes)
        saved = result.load()
        if saved is not None:
            model.load_state_dict(saved["supernet"])
            with torch.no_grad():
                for alpha, value in zip(alphas, saved["alphas"]):
                    alpha.copy_(value)
            context.log.info("darts_state_loaded", path=str(result.path))
        else:
            checkpoint = EpochCheckpoint(context.state_path(EPOCH_CHECKPOINT), self.checkpoint_every, processes)
            training = Training(processes, checkpoint, self.precision, self.sync_bn)
            self._search(model, mutator, alphas, data, context, training)
            result.save({"supernet": model.state_dict(), "alphas": [a.detach().cpu() for a in alphas]})
            checkpoint.discard()

    def _search(
        self, model: nn.Module, mutator: Any, alphas: list, data: Any, context: Any, training: Training
    ) -> None:
        alpha_ids = {id(alpha) for alpha in alphas}
        materialize = getattr(model, "materialize", None)
        if materialize is not None:  # a space built at its first call: build every mixed candidate now
            mutator.reset()
            materialize()
        weights = [p for p in model.parameters() if p.requires_grad and id(p) not in alpha_ids]
        w_optimizer = torch.optim.SGD(weights, lr=self.w_lr, momentum=self.w_momentum, weight_decay=self.w_weight_decay)
        alpha_optimizer = torch.optim.Adam(
            alphas, lr=self.alpha_lr, betas=(0.5, 0.999), weight_decay=self.alpha_weight_decay
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_optimizer, T_max=self.epochs, eta_min=self.w_lr_min)
        generators = mutator.generators() if hasattr(mutator, "generators") else {}
        state = {"model": model, "alphas": alphas, "w_optimizer": w_optimizer, "alpha_optimizer": alpha_optimizer,
                 "scheduler": scheduler, "scaler": training.precision.scaler,
                 **{f"mutator_{name}": generator for name, generator in generators.items()}}  # fmt: skip
        start = training.restore(context.resumed, state)
        network = training.wrap(model)
        batch_size = self.batch_size or data.batch_size
        batches = training.processes.batches
        augment = batch_transform(self.augment, training.device)
        for epoch in range(start, self.epochs):
            if hasattr(mutator, "set_epoch"):
                mutator.set_epoch(epoch, self.epochs)
            model.train()
            loss_sum, steps = 0.0, 0
            train_batches = batches(data, "train", batch_size, seed=context.seed, epoch=epoch)
            val_batches = batches(data, "val", batch_size, seed=context.seed + VAL_ORDER, epoch=epoch)
            for (x_train, y_train), (x_val, y_val) in zip(train_batches, cycle(val_batches)):
                train_batch = (augment(x_train.to(training.device)), y_train.to(training.device))
                val_batch = (x_val.to(training.device), y_val.to(training.device))
                sampled = mutator.reset()  # mixed mode, and a fresh sample for samplers such as GDAS
                training.processes.check_same("darts step", sampled)
                self.alpha_step(model, alphas, weights, alpha_optimizer, w_optimizer, train_batch, val_batch, training)
                loss_sum += self.weight_step(network, weights, w_optimizer, train_batch, training)
                steps += 1
            scheduler.step()
            val_accuracy, val_loss = training.evaluate(model, data, "val", batch_size)
            metrics = {**training.means({"train_loss": loss_sum}, steps), "val_loss": val_loss}
            training.end_of_epoch(context, epoch, {**metrics, "val_accuracy": val_accuracy}, state)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], training: Training | None = None):
        inputs, targets = batch
        with contextlib.nullcontext() if training is None else training.precision.autocast():
            return self.criterion(logits_of(model(inputs)), targets)

    def weight_step(
        self, model: nn.Module, weights: list, w_optimizer: torch.optim.Optimizer, batch: tuple, training: Training
    ) -> float:
        """One SGD step of the network weights on a training batch (``model`` wrapped for every
        rank: gradients averaged over ranks); returns the loss."""
        w_optimizer.zero_grad(set_to_none=True)
        loss = self.loss(model, batch, training)
        training.precision.backward(loss)
        training.precision.step(w_optimizer, weights, self.grad_clip)
        return loss.item()

    def alpha_step(
        self,
        model: nn.Module,
        alphas: list,
        weights: list,
        alpha_optimizer: torch.optim.Optimizer,
        w_optimizer: torch.optim.Optimizer,
        train_batch: tuple,
        val_batch: tuple,
        training: Training | None = None,
    ) -> None:
        """One Adam step of the architecture weights on a validation batch (first or second order),
        their gradients averaged over ranks like the weights'."""
        alpha_optimizer.zero_grad(set_to_none=True)
        if self.unrolled:
            gradients = self._unrolled_gradients(model, alphas, weights, w_optimizer, train_batch, val_batch, training)
        else:
            gradients = _gradients(self.loss(model, val_batch, training), alphas, training)
        if not all(torch.isfinite(g).all() for g in gradients):
            return  # a float16 overflow: skipped, as the grad scaler skips the weights' step
        for alpha, gradient in zip(alphas, gradients):
            alpha.grad = gradient
        alpha_optimizer.step()

    def _unrolled_gradients(
        self, model, alphas, weights, w_optimizer, train_batch, val_batch, training=None
    ) -> list[torch.Tensor]:
        """``grad_a L_val(w', a) - xi * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps)``."""
        xi = w_optimizer.param_groups[0]["lr"]
        original = [w.detach().clone() for w in weights]
        # Virtual step w' = w - xi * (momentum * buffer + grad + weight_decay * w), as SGD would take it.
        steps = _gradients(self.loss(model, train_batch, training), weights, training)
        with torch.no_grad():
            for w, step in zip(weights, steps):
                buffer = w_optimizer.state.get(w, {}).get("momentum_buffer")
                step = step + self.w_weight_decay * w
                if buffer is not None:
                    step = step + self.w_momentum * buffer
                w.sub_(xi * step)
        found = _gradients(self.loss(model, val_batch, training), [*alphas, *weights], training)
        alpha_gradients, w_gradients = found[: len(alphas)], found[len(alphas) :]
        eps = 0.01 / torch.cat([g.flatten() for g in w_gradients]).norm().clamp_min(1e-12)
        perturbed = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, start, g in zip(weights, original, w_gradients):
                    w.copy_(start + sign * eps * g)
            perturbed.append(_gradients(self.loss(model, train_batch, training), alphas, training))
        with torch.no_grad():
            for w, start in zip(weights, original):
                w.copy_(start)
        return [g - xi * (plus - minus) / (2 * eps) for g, plus, minus in zip(alpha_gradients, *perturbed)]

    def trial(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any) -> nn.Module:
        from hyperbox.nas.subnet import build_subnet

        return mark_shared_statistics(build_subnet(model, arch)).to(resolve_device(self.device, context))


def _gradients(loss: torch.Tensor, tensors: list, training: Training | None = None) -> list[torch.Tensor]:
    """d loss / d tensors, averaged over ranks (through the grad scaler under ``16-mixed``); zeros
    for tensors the loss does not reach (candidates GDAS did not sample)."""
    if training is None:
        found = torch.autograd.grad(loss, tensors, allow_unused=True)
    else:
        found = training.precision.gradients(loss, tensors)
    gradients = [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, found)]
    if training is not None:
        training.processes.average_gradients(gradients)
    return gradients
