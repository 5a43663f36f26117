"""Trainers: stand-alone training, one-shot weight sharing with resume, DARTS bilevel steps."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from hyperbox.kernel import Categorical, IntRange, SearchSpace, Subset
from hyperbox.nas import ops
from hyperbox.nas.datasets import digits, synthetic
from hyperbox.nas.mutators import DartsMutator, GDASMutator, RandomMutator
from hyperbox.nas.spaces import OperationSpace, ValueSpace
from hyperbox.nas.trainers import DartsTrainer, OneShotTrainer, StandaloneTrainer
from hyperbox.nas.trainers._sampling import extreme_decision, step_architectures

torch.set_num_threads(1)


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **fields) -> None:
        self.events.append(event)


class _Context:
    """What the runner hands trainers: device, seed, report, state_path, resumed, log."""

    def __init__(self, directory, *, seed: int = 0, resumed: bool = False) -> None:
        self.directory, self.seed, self.resumed, self.device = directory, seed, resumed, "cpu"
        self.reports: list[tuple[int, dict]] = []
        self.log = _Log()

    def state_path(self, name: str):
        return self.directory / name

    def report(self, epoch: int, metrics: dict) -> None:
        self.reports.append((epoch, dict(metrics)))


def _mlp_supernet(seed: int = 0) -> nn.Module:
    """Digits MLP whose hidden width (32 or 64) is searched."""
    torch.manual_seed(seed)
    width = ValueSpace([32, 64], key="width")
    return nn.Sequential(nn.Flatten(), ops.Linear(64, width), ops.BatchNorm1d(width), nn.ReLU(), ops.Linear(width, 10))


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- stand-alone --------------------------------------------------------------------------------
def test_standalone_trains_a_subnet_from_scratch_and_reports_each_epoch(tmp_path):
    data = digits(normalize=True)
    supernet = _mlp_supernet()
    before = _weights(supernet)
    context = _Context(tmp_path)
    trainer = StandaloneTrainer(epochs=4, batch_size=32, optimizer="adam", lr=0.01, weight_decay=0.0)
    trained = trainer.trial(supernet, {"width": 1}, data, context)
    assert [epoch for epoch, _ in context.reports] == [0, 1, 2, 3]
    assert context.reports[-1][1]["val_accuracy"] > 0.9
    assert isinstance(trained[1], nn.Linear) and trained[1].out_features == 64 and not trained.training
    # the supernet is untouched, so the next trial starts from the same initial weights
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())


def test_standalone_trials_do_not_share_trained_weights(tmp_path):
    data = synthetic(num_samples=120, input_shape=(64,), seed=0)
    supernet = _mlp_supernet()
    trainer = StandaloneTrainer(epochs=1, batch_size=16, scheduler="step")
    first = trainer.trial(supernet, {"width": 0}, data, _Context(tmp_path))
    second = trainer.trial(supernet, {"width": 0}, data, _Context(tmp_path))
    assert first[1].weight is not second[1].weight
    assert torch.equal(first[1].weight, second[1].weight)  # same seed, same start: same result


def test_standalone_rejects_bad_arguments():
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        StandaloneTrainer(optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs=0"):
        StandaloneTrainer(epochs=0)
    with pytest.raises(ValueError, match="scheduler='linear'"):
        StandaloneTrainer(scheduler="linear")


# -- one-shot -----------------------------------------------------------------------------------
def test_sandwich_picks_the_largest_and_smallest_decisions():
    rng = random.Random(0)
    widths = Categorical(3, labels=[32, 8, 16])
    assert extreme_decision(widths, True, rng) == 0 and extreme_decision(widths, False, rng) == 1
    assert extreme_decision(Categorical(3, labels=["conv3", "conv5", "conv7"]), True, rng) == 2
    assert extreme_decision(IntRange(2, 6), False, rng) == 2
    assert extreme_decision(Subset(3), True, rng) == (0, 1, 2)
    space = SearchSpace.of(_mlp_supernet())
    archs = step_architectures(space, rng, "sandwich", 2)
    assert len(archs) == 4 and archs[0] == {"width": 1} and archs[1] == {"width": 0}


def test_oneshot_fit_trains_the_shared_weights_and_saves_them(tmp_path):
    data = synthetic(num_samples=200, input_shape=(64,), seed=0)
    supernet = _mlp_supernet()
    before = _weights(supernet)
    context = _Context(tmp_path)
    trainer = OneShotTrainer(epochs=2, batch_size=32, sampling="sandwich", sandwich_n=1)
    trainer.fit(supernet, RandomMutator(supernet, seed=0), data, context)
    assert [epoch for epoch, _ in context.reports] == [0, 1]
    assert not torch.equal(before["1.weight"], supernet.state_dict()["1.weight"])
    assert SearchSpace.of(supernet).mutables("width")[0].decision is None  # the search starts clean
    saved = torch.load(tmp_path / "supernet.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in supernet.state_dict().items())
    subnet = trainer.trial(supernet, {"width": 0}, data, context)
    assert torch.equal(subnet[1].weight, supernet[1].weight[:32])  # shared weights, plain copy


def test_oneshot_resume_loads_the_checkpoint_instead_of_training(tmp_path):
    data = synthetic(num_samples=200, input_shape=(64,), seed=0)
    trainer = OneShotTrainer(epochs=1, batch_size=32)
    trained = _mlp_supernet(seed=0)
    trainer.fit(trained, None, data, _Context(tmp_path))
    fresh = _mlp_supernet(seed=1)
    context = _Context(tmp_path, resumed=True)
    trainer.fit(fresh, None, data, context)
    assert context.reports == [] and "supernet_loaded" in context.log.events
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in trained.state_dict().items())


# -- DARTS --------------------------------------------------------------------------------------
class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


def _toy_darts_problem():
    """A trained linear classifier behind a choice of "keep the features" or "negate them".

    Mixed equally the choice cancels the features out; the alphas must learn to keep them.
    """
    torch.manual_seed(0)
    data = synthetic(
        num_samples=300, num_classes=4, input_shape=(8,), noise=0.3, seed=0, val_fraction=0.5, test_fraction=0
    )
    model = nn.Sequential(OperationSpace([_Scale(1.0), _Scale(-1.0)], key="op"), nn.Linear(8, 4))
    x, y = data.train.tensors
    head = torch.optim.Adam(model[1].parameters(), lr=0.05)
    for _ in range(100):
        head.zero_grad()
        nn.functional.cross_entropy(model[1](x), y).backward()
        head.step()
    return data, model


@pytest.mark.parametrize("unrolled", [False, True])
def test_darts_alpha_steps_change_alphas_and_reduce_the_val_loss(unrolled):
    data, model = _toy_darts_problem()
    mutator = DartsMutator(model, seed=0)
    mutator.mix()
    trainer = DartsTrainer(alpha_lr=0.05, alpha_weight_decay=0.0, unrolled=unrolled, w_lr=0.01)
    alphas = mutator.arch_parameters()
    weights = list(model.parameters())
    w_optimizer = torch.optim.SGD(weights, lr=0.01, momentum=0.9)
    alpha_optimizer = torch.optim.Adam(alphas, lr=0.05, betas=(0.5, 0.999))
    train_batch, val_batch = data.train.tensors, data.val.tensors
    start_alpha = alphas[0].detach().clone()
    start_loss = trainer.loss(model, val_batch).item()
    for _ in range(10):
        trainer.alpha_step(model, alphas, weights, alpha_optimizer, w_optimizer, train_batch, val_batch)
    assert not torch.equal(start_alpha, alphas[0])
    assert trainer.loss(model, val_batch).item() < start_loss - 0.1
    assert mutator.export() == {"op": 0}


def test_darts_unrolled_gradient_leaves_the_weights_as_they_were():
    data, model = _toy_darts_problem()
    mutator = DartsMutator(model, seed=0)
    mutator.mix()
    trainer = DartsTrainer(unrolled=True)
    weights = list(model.parameters())
    before = [w.detach().clone() for w in weights]
    w_optimizer = torch.optim.SGD(weights, lr=0.1, momentum=0.9)
    alpha_optimizer = torch.optim.Adam(mutator.arch_parameters(), lr=0.01)
    trainer.alpha_step(
        model, mutator.arch_parameters(), weights, alpha_optimizer, w_optimizer, data.train.tensors, data.val.tensors
    )
    assert all(torch.equal(a, b) for a, b in zip(before, weights))


def test_darts_fit_searches_reports_and_resumes(tmp_path):
    data, model = _toy_darts_problem()
    mutator = GDASMutator(model, seed=0)
    trainer = DartsTrainer(epochs=2, batch_size=50, alpha_lr=0.05)
    context = _Context(tmp_path)
    trainer.fit(model, mutator, data, context)
    assert [epoch for epoch, _ in context.reports] == [0, 1]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(context.reports[0][1])
    assert mutator.tau < mutator.tau_max and not mutator.mixing
    subnet = trainer.trial(model, mutator.export(), data, context)
    assert isinstance(subnet[0], _Scale)
    resumed_mutator = GDASMutator(model, seed=5)
    resumed = _Context(tmp_path, resumed=True)
    trainer.fit(model, resumed_mutator, data, resumed)
    assert resumed.reports == []
    assert torch.equal(resumed_mutator.arch_parameters()[0], mutator.arch_parameters()[0])


def test_darts_needs_a_differentiable_mutator(tmp_path):
    data, model = _toy_darts_problem()
    with pytest.raises(ValueError, match="differentiable mutator"):
        DartsTrainer(epochs=1).fit(model, RandomMutator(model, seed=0), data, _Context(tmp_path))


def test_second_order_alpha_gradient_is_the_unrolled_hypergradient():
    """The finite-difference step of DARTS (eq. 7-8) against the exact gradient of
    L_val(w - xi * grad_w L_train(w, a), a) with respect to a, by autograd through the virtual step."""
    from torch.func import functional_call

    torch.manual_seed(0)
    alpha = torch.randn(2, dtype=torch.double, requires_grad=True)

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4).double(), nn.Linear(3, 4).double()

        def forward(self, x):
            weights = torch.softmax(alpha, 0)
            return weights[0] * self.a(x) + weights[1] * torch.tanh(self.b(x))

    model = Mixed()
    trainer = DartsTrainer(epochs=1, unrolled=True, w_momentum=0.0, w_weight_decay=3e-4)
    weights = list(model.parameters())
    xi = 0.1
    w_optimizer = torch.optim.SGD(weights, lr=xi, momentum=0.0, weight_decay=3e-4)
    train = (torch.randn(8, 3, dtype=torch.double), torch.randint(0, 4, (8,)))
    val = (torch.randn(8, 3, dtype=torch.double), torch.randint(0, 4, (8,)))
    found = trainer._unrolled_gradients(model, [alpha], weights, w_optimizer, train, val)[0]

    params = dict(model.named_parameters())

    def loss(p, batch):
        return nn.functional.cross_entropy(functional_call(model, p, (batch[0],)), batch[1])

    grads = torch.autograd.grad(loss(params, train), list(params.values()), create_graph=True)
    unrolled = {name: w - xi * (g + 3e-4 * w) for (name, w), g in zip(params.items(), grads)}
    exact = torch.autograd.grad(loss(unrolled, val), alpha)[0]
    first_order = torch.autograd.grad(loss(params, val), alpha)[0]
    torch.testing.assert_close(found, exact, rtol=1e-4, atol=1e-8)
    assert not torch.allclose(first_order, exact, rtol=1e-3, atol=1e-8)  # the second-order term matters here


def test_darts_never_orders_its_validation_batches_as_a_training_epoch(tmp_path, monkeypatch):
    from hyperbox.nas.trainers._distributed import Processes

    orders: dict[str, set[int]] = {"train": set(), "val": set()}
    batches = Processes.batches

    def recording(self, data, split, batch_size, *, seed, epoch, shuffle=True):
        orders[split].add(seed + epoch)  # DistributedSampler draws the order from seed + epoch
        return batches(self, data, split, batch_size, seed=seed, epoch=epoch, shuffle=shuffle)

    monkeypatch.setattr(Processes, "batches", recording)
    data = synthetic(num_samples=64, num_classes=3, input_shape=(12,), seed=0, val_fraction=0.5, test_fraction=0)
    torch.manual_seed(0)
    model = nn.Sequential(OperationSpace([nn.Linear(12, 3), nn.Sequential(nn.Linear(12, 3), nn.Tanh())], key="op"))
    DartsTrainer(epochs=3, batch_size=16).fit(model, DartsMutator(model, seed=0), data, _Context(tmp_path))
    assert len(orders["train"]) == len(orders["val"]) == 3
    assert not orders["train"] & orders["val"]  # equal-sized splits: the old seed + 1 repeated the next epoch's order
