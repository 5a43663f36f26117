"""DADA: differentiable policy search (Li et al., 2020), over an :class:`AugmentationPolicy`'s space.

:class:`RelaxedPolicy` relaxes every decision of the policy's slots:

- the operation: Gumbel-softmax over the slot's candidates (straight-through, so one operation
  is applied per slot and batch; the others enter the mixture as the identity, so their weights
  get a gradient too);
- its probability: a relaxed Bernoulli gate per image (straight-through: the image is augmented
  or not, and the probability gets the gradient of the blend ``x + gate * (op(x) - x)``), our
  relaxation, since Kornia's operation probability takes no gradient by itself;
- its magnitude: a continuous value on the operation's scale, handed to Kornia's auto
  operation (``forward_parameters(mag=...)``), which differentiates geometric and colour
  operations in it; for ``solarize`` and ``posterize``, whose Kornia implementations do not, DADA's
  straight-through estimator (the magnitude added and subtracted around the output).

:class:`DadaTrainer` trains the network on batches augmented by the relaxed policy and updates
the policy bilevel against the validation loss, as DADA does with DARTS's second-order
approximation: the validation loss reaches the policy only through one virtual SGD step of the
weights, so its gradient is ``-xi * (grad_p L_train(w+) - grad_p L_train(w-)) / (2 eps)`` with
``w+- = w +- eps * grad_w' L_val(w')``. Probabilities and magnitudes are kept within the range
of the space's candidates (``probabilities``, ``magnitudes``). The result is an ordinary discrete
policy: each slot's argmax operation, its learned probability and magnitude rounded to the
policy's grid. A dada search is one trial: the derived policy, evaluated with the network trained
in the search.
"""

from __future__ import annotations

import math
from itertools import cycle
from typing import Any

import torch
from torch import nn

from hyperbox.ada.ops import SCALES, WITHOUT_MAGNITUDE
from hyperbox.ada.policy import AugmentationPolicy
from hyperbox.kernel import ConfigError, Mutator, SearchSpace
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint, TrainingResult, check_checkpoint_every
from hyperbox.nas.trainers._darts import VAL_ORDER
from hyperbox.nas.trainers._followers import FIT, LeadsFollowers
from hyperbox.nas.trainers._precision import check_precision
from hyperbox.nas.trainers._training import Training

__all__ = ["RelaxedPolicy", "DadaTrainer", "DadaMutator"]

#: Operations whose Kornia implementation gives the magnitude no gradient (threshold, bit depth).
STRAIGHT_THROUGH_MAGNITUDE = frozenset({"solarize", "posterize"})
#: How close a probability may come to 0 or 1: the relaxed Bernoulli needs a finite logit.
PROBABILITY_MARGIN = 1e-3
#: Kornia auto operations whose magnitude is signed: no random sign on top.
SIGNED = frozenset({"shear_x", "shear_y", "translate_x", "translate_y", "rotate"})


def _kornia_operation(name: str) -> nn.Module:
    """Kornia's auto operation for ``name`` over the operation's whole magnitude scale, always applied."""
    from kornia.augmentation.auto import operations as K

    classes = {
        "shear_x": K.ShearX,
        "shear_y": K.ShearY,
        "translate_x": K.TranslateX,
        "translate_y": K.TranslateY,
        "rotate": K.Rotate,
        "solarize": K.Solarize,
        "posterize": K.Posterize,
        "contrast": K.Contrast,
        "brightness": K.Brightness,
        "sharpness": K.Sharpness,
        "color": K.Saturate,
        "auto_contrast": K.AutoContrast,
        "invert": K.Invert,
        "equalize": K.Equalize,
    }
    if name in WITHOUT_MAGNITUDE:
        return classes[name](1.0)
    signed = {"symmetric_megnitude": False} if name in SIGNED else {}
    return classes[name](None, 1.0, magnitude_range=SCALES[name], **signed)


class RelaxedPolicy(nn.Module):
    """The differentiable form of ``policy``'s space: per slot and candidate operation, a Gumbel-softmax
    logit, a probability and a magnitude (scaled to 0..1 over the operation's scale), all learnable;
    probabilities and magnitudes stay within the range of the policy's candidates (:meth:`project`)."""

    def __init__(self, policy: AugmentationPolicy, temperature: float = 0.5) -> None:
        super().__init__()
        if policy.dims != 2:
            raise ValueError(
                f"{policy.key}: dada searches 2-D image policies (dims: 2), this one has dims={policy.dims}"
            )
        self.policy, self.temperature = policy, temperature
        self.slots = list(policy.slots())
        self.ops = policy.ops
        shape = (len(self.slots), len(self.ops))
        self.op_logits = nn.Parameter(torch.full(shape, 1e-3))  # DADA's start: uniform
        self.probabilities = nn.Parameter(torch.full(shape, 0.5))
        self.magnitudes = nn.Parameter(torch.full(shape, 0.5))
        self.operations = nn.ModuleList(_kornia_operation(name) for name in self.ops)
        self.n_per_subpolicy = len(policy.subpolicies[0])
        slot = self.slots[0]
        self.probability_range = (
            max(min(slot.prob.candidates), PROBABILITY_MARGIN),
            min(max(slot.prob.candidates), 1 - PROBABILITY_MARGIN),
        )
        # bin b covers [b, b + 1) of Kornia's eleven-point scale, 0..1 here (see derive)
        bins = slot.magnitude.candidates
        self.magnitude_range = (min(bins) / 10, min((max(bins) + 1) / 10, 1.0))
        self.project()

    def project(self) -> None:
        """Bring probabilities and magnitudes back within the candidates' range (after a step): inside
        it, the forward pass still gives them a gradient."""
        with torch.no_grad():
            self.probabilities.clamp_(*self.probability_range)
            self.magnitudes.clamp_(*self.magnitude_range)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` through one drawn sub-policy, every slot relaxed."""
        subpolicy = int(torch.randint(len(self.policy.subpolicies), ()))
        for j in range(self.n_per_subpolicy):
            images = self._slot(subpolicy * self.n_per_subpolicy + j, images)
        return images

    def _slot(self, slot: int, images: torch.Tensor) -> torch.Tensor:
        weights = nn.functional.gumbel_softmax(self.op_logits[slot], tau=self.temperature, hard=True)
        chosen = int(weights.argmax())
        augmented = self._operation(slot, chosen, images)
        # the mixture, with the candidates not drawn standing in as the identity
        return weights[chosen] * augmented + (weights.sum() - weights[chosen]) * images

    def _operation(self, slot: int, index: int, images: torch.Tensor) -> torch.Tensor:
        name, operation = self.ops[index], self.operations[index]
        shape = (images.shape[0],) + (1,) * (images.dim() - 1)
        probability = self.probabilities[slot, index].clamp(PROBABILITY_MARGIN, 1 - PROBABILITY_MARGIN)
        gate = torch.distributions.RelaxedBernoulli(torch.tensor(self.temperature), probs=probability).rsample(
            (images.shape[0],)
        )
        gate = (gate > 0.5).to(images.dtype) - gate.detach() + gate  # straight through: hard in value
        if name in WITHOUT_MAGNITUDE:
            params = operation.forward_parameters(images.shape)
            magnitude = None
        else:
            magnitude = self.magnitude_value(slot, index)
            params = operation.forward_parameters(images.shape, mag=magnitude)
        params["batch_prob"] = torch.ones(images.shape[0], device=images.device)
        output = operation(images, params)
        if name in STRAIGHT_THROUGH_MAGNITUDE:
            output = output + (magnitude - magnitude.detach())
        return images + gate.view(shape) * (output - images)

    def magnitude_value(self, slot: int, index: int) -> torch.Tensor:
        """The magnitude on the operation's own scale (Kornia's units)."""
        low, high = SCALES[self.ops[index]]
        return low + self.magnitudes[slot, index].clamp(0, 1) * (high - low)

    def derive(self) -> dict[str, Any]:
        """The discrete policy (labels): argmax operations, probabilities and magnitude bins on the grid."""
        arch, op_logits = {}, self.op_logits.detach()
        probabilities, magnitudes = self.probabilities.detach(), self.magnitudes.detach()
        for slot_index, slot in enumerate(self.slots):
            index = int(op_logits[slot_index].argmax())
            probability = float(probabilities[slot_index, index].clamp(0, 1))
            position = float(magnitudes[slot_index, index].clamp(0, 1)) * 10  # on the eleven-point scale
            bin_ = min(int(math.floor(position)), 9)
            arch[slot.op.key] = index
            arch[slot.prob.key] = _nearest(slot.prob.candidates, probability)
            arch[slot.magnitude.key] = _nearest(slot.magnitude.candidates, bin_)
        return arch


def _nearest(candidates: list, value: float) -> int:
    """The index of the candidate closest to ``value``."""
    return min(range(len(candidates)), key=lambda i: abs(candidates[i] - value))


class DadaMutator(Mutator):
    """The mutator of a ``dada`` search: the ``dada`` trainer's search phase derives the policy
    (``fix``), which the search's one trial evaluates; without that trainer it is an error."""

    def __init__(self, model: Any, *, seed: int | None = None) -> None:
        super().__init__(model, seed=seed)
        self._derived: dict[str, Any] | None = None

    def fix(self, arch: dict[str, Any]) -> dict[str, Any]:
        self._derived = self.apply(arch)
        return self._derived

    def sample_search(self) -> dict[str, Any]:
        if self._derived is None:
            raise ConfigError("mutator 'dada': proposes the policy that trainer 'dada' derives; use trainer: dada")
        return dict(self._derived)

    def size(self) -> int:
        return 1  # the derived policy

    def export(self) -> dict[str, Any]:
        return dict(self._derived or {})


#: the searched network and relaxed policy, which a resumed run loads instead of searching again
CHECKPOINT = "dada.pt"
#: the training state after the last finished epoch, while the search runs
EPOCH_CHECKPOINT = "dada.last.pt"


class DadaTrainer(LeadsFollowers):
    """DADA's bilevel search of a policy in front of a fixed network (the ``augmented`` space with
    ``network_arch``, and ``mutator: dada``).

    Each step first updates the policy (Adam, ``policy_lr``) with the second-order gradient of the
    validation loss, then the network's weights (SGD, cosine from ``w_lr``) on the training batch
    augmented by the relaxed policy. ``train_loss``, ``val_loss`` and ``val_accuracy`` are reported
    per epoch; afterwards the mutator is fixed on the derived policy, which the search's one trial
    evaluates with the network trained in the search (a larger budget adds no trial; retrain it
    with ``augment: POLICY.json`` on a stand-alone trainer for a final number). It takes no
    ``augment``: its training batches are augmented by the policy it searches.

    As the ``darts`` trainer, it checkpoints every ``checkpoint_every`` epochs (network, policy,
    optimizers, scheduler and generators; ``hbk run --resume`` goes on from there), trains the
    network's forward passes at ``precision`` (the policy step stays in float32: its finite
    differences need the precision), and runs on several processes (``hbk run --nproc``): each rank
    searches on its shard, the network's gradients are averaged by DDP and the policy's by one
    collective, so every rank keeps the same policy.
    """

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int | None = None,
        w_lr: float = 0.05,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        policy_lr: float = 5e-3,
        temperature: float = 0.5,
        checkpoint_every: int | None = 1,
        precision: int | str = 32,
        sync_bn: bool = False,
        device: str | None = None,
        augment: Any = None,
    ) -> None:
        from hyperbox.nas.trainers._optim import check_non_negative, check_positive_int

        if augment is not None:
            raise ValueError(
                "augment: the dada trainer augments its training batches with the policy it searches; a fixed "
                "augmentation would replace it (train the derived policy with augment: POLICY.json on another trainer)"
            )

        check_positive_int("epochs", epochs)
        check_positive_int("batch_size", batch_size, allow_none=True)
        check_checkpoint_every(checkpoint_every, allow_none=True)
        check_precision(precision)
        for name, value in (("w_lr", w_lr), ("policy_lr", policy_lr), ("temperature", temperature)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a number > 0")
        check_non_negative("w_momentum", w_momentum)
        check_non_negative("w_weight_decay", w_weight_decay)
        self.epochs, self.batch_size = epochs, batch_size
        self.w_lr, self.w_momentum, self.w_weight_decay = w_lr, w_momentum, w_weight_decay
        self.policy_lr, self.temperature, self.device = policy_lr, temperature, device
        self.checkpoint_every, self.precision, self.sync_bn = checkpoint_every, precision, sync_bn
        self.criterion = nn.CrossEntropyLoss()

    def fit(self, model: nn.Module, mutator: Any, data: Any, context: Any) -> None:
        policy = getattr(model, "augmentation", None)
        if not isinstance(policy, AugmentationPolicy) or not hasattr(mutator, "fix"):
            raise ConfigError(
                "trainer 'dada': searches the policy of an `augmented` space with `mutator: dada`, got "
                f"{type(model).__name__} and {type(mutator).__name__}"
            )
        network_keys = sorted(k for k in SearchSpace.of(model) if not k.startswith(f"{policy.key}."))
        if network_keys:
            raise ConfigError(f"trainer 'dada': fix the network with network_arch (undecided: {network_keys})")
        relaxed = RelaxedPolicy(policy, self.temperature)
        with self._lead(context, FIT) as processes:
            network, relaxed = model.network.to(processes.device), relaxed.to(processes.device)
            result = TrainingResult(context, CHECKPOINT, processes)
            saved = result.load()
            if saved is not None:
                network.load_state_dict(saved["network"])
                relaxed.load_state_dict(saved["policy"])
                context.log.info("dada_state_loaded", path=str(result.path))
            else:
                checkpoint = EpochCheckpoint(context.state_path(EPOCH_CHECKPOINT), self.checkpoint_every, processes)
                training = Training(processes, checkpoint, self.precision, self.sync_bn)
                self.search(network, relaxed, data, context, training)
                result.save({"network": network.state_dict(), "policy": relaxed.state_dict()})
                checkpoint.discard()
        arch = mutator.fix(relaxed.derive())
        context.log.info("dada_derived", arch=SearchSpace.of(model).to_json(arch))

    def search(self, network: nn.Module, relaxed: RelaxedPolicy, data: Any, context: Any, training: Training) -> None:
        """The bilevel search: ``relaxed``'s parameters and ``network``'s weights learnt in alternation."""
        weights = [p for p in network.parameters() if p.requires_grad]
        w_optimizer = torch.optim.SGD(weights, lr=self.w_lr, momentum=self.w_momentum, weight_decay=self.w_weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_optimizer, T_max=self.epochs)
        policy_optimizer = torch.optim.Adam(relaxed.parameters(), lr=self.policy_lr, betas=(0.5, 0.999))
        state = {"network": network, "policy": relaxed, "w_optimizer": w_optimizer,
                 "policy_optimizer": policy_optimizer, "scheduler": scheduler,
                 "scaler": training.precision.scaler}  # fmt: skip
        start = training.restore(context.resumed, state)
        wrapped = training.wrap(network, supernet=False)
        batch_size = self.batch_size or data.batch_size
        batches = training.processes.batches
        for epoch in range(start, self.epochs):
            network.train()
            loss_sum, steps = 0.0, 0
            train = batches(data, "train", batch_size, seed=context.seed, epoch=epoch)
            val = batches(data, "val", batch_size, seed=context.seed + VAL_ORDER, epoch=epoch)
            for (x_train, y_train), (x_val, y_val) in zip(train, cycle(val)):
                train_batch = (x_train.to(training.device), y_train.to(training.device))
                val_batch = (x_val.to(training.device), y_val.to(training.device))
                self.policy_step(
                    network, relaxed, weights, w_optimizer, policy_optimizer, train_batch, val_batch, training
                )
                loss_sum += self.weight_step(wrapped, relaxed, weights, w_optimizer, train_batch, training)
                steps += 1
            scheduler.step()
            val_accuracy, val_loss = training.evaluate(network, data, "val", batch_size)
            metrics = {**training.means({"train_loss": loss_sum}, steps), "val_loss": val_loss}
            training.end_of_epoch(context, epoch, {**metrics, "val_accuracy": val_accuracy}, state)

    def weight_step(self, network, relaxed, weights, w_optimizer, batch, training: Training) -> float:
        """One SGD step of the network (wrapped for every rank) on the batch augmented by the relaxed
        policy; returns the loss."""
        inputs, targets = batch
        with torch.no_grad():
            augmented = relaxed(inputs)
        with training.precision.autocast():
            loss = self.criterion(network(augmented), targets)
        w_optimizer.zero_grad(set_to_none=True)
        training.precision.backward(loss)
        training.precision.step(w_optimizer, weights, None)
        return loss.item()

    def policy_step(
        self, network, relaxed, weights, w_optimizer, policy_optimizer, train_batch, val_batch, training: Training
    ) -> None:
        """One Adam step of the policy on DADA's second-order gradient of the validation loss (on
        several ranks, the ranks' gradients averaged)."""
        inputs, targets = train_batch
        xi = w_optimizer.param_groups[0]["lr"]
        seed = int(torch.randint(2**31 - 1, ()))  # one draw of the augmentation, reused by each pass

        def train_loss() -> torch.Tensor:
            with torch.random.fork_rng(devices=[inputs.device] if inputs.device.type == "cuda" else []):
                torch.manual_seed(seed)
                return self.criterion(network(relaxed(inputs)), targets)

        original = [w.detach().clone() for w in weights]
        steps = _gradients(train_loss(), weights, zeros=True)
        training.processes.average_gradients(steps)  # on several ranks, one virtual step for the global batch
        with torch.no_grad():  # the virtual step w' = w - xi * (momentum * buffer + grad + weight_decay * w)
            for w, step in zip(weights, steps):
                buffer = w_optimizer.state.get(w, {}).get("momentum_buffer")
                step = step + self.w_weight_decay * w + (0 if buffer is None else self.w_momentum * buffer)
                w.sub_(xi * step)
        val_gradients = _gradients(self.criterion(network(val_batch[0]), val_batch[1]), weights, zeros=True)
        training.processes.average_gradients(val_gradients)  # and one eps
        eps = 0.01 / torch.cat([g.flatten() for g in val_gradients]).norm().clamp_min(1e-12)
        policy = list(relaxed.parameters())
        perturbed = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, start, g in zip(weights, original, val_gradients):
                    w.copy_(start + sign * eps * g)
            perturbed.append(_gradients(train_loss(), policy))
        with torch.no_grad():
            for w, start in zip(weights, original):
                w.copy_(start)
        policy_optimizer.zero_grad(set_to_none=True)
        for parameter, plus, minus in zip(policy, *perturbed):
            if plus is not None and minus is not None:  # else not reached: Adam leaves it as it is
                parameter.grad = -xi * (plus - minus) / (2 * eps)
        _average_over_ranks(policy, training.processes)
        policy_optimizer.step()
        relaxed.project()

    def trial(self, model: nn.Module, arch: dict[str, Any], data: Any, context: Any) -> nn.Module:  # rank 0 alone
        from hyperbox.nas.estimators._device import resolve_device
        from hyperbox.nas.subnet import build_subnet

        return build_subnet(model, arch).to(resolve_device(self.device, context))


def _gradients(loss: torch.Tensor, tensors: list, zeros: bool = False) -> list[torch.Tensor | None]:
    """d loss / d tensors; for tensors the loss does not reach, None (or zeros with ``zeros``)."""
    found = torch.autograd.grad(loss, tensors, allow_unused=True)
    return [torch.zeros_like(t) if g is None and zeros else g for t, g in zip(tensors, found)]


def _average_over_ranks(parameters: list[nn.Parameter], processes: Any) -> None:
    """Average the parameters' gradients over the ranks: a parameter some rank's step reached gets
    zeros where another's did not (its true gradient there); one no rank reached keeps none."""
    if not processes.distributed:
        return
    reached = processes.sums([float(p.grad is not None) for p in parameters])
    for parameter, count in zip(parameters, reached):
        if count and parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    processes.average_gradients([p.grad for p in parameters if p.grad is not None])
