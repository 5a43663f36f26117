"""Random, DARTS and GDAS mutators: the kernel conformance suite plus their own behaviour."""

from __future__ import annotations

import collections

import pytest
import torch
from torch import nn

from hyperbox.kernel import Categorical, IntRange, Subset
from hyperbox.kernel.testing import MutatorTestCase, ToyMutable, ToySpace
from hyperbox.nas.mutators import DartsMutator, GDASMutator, RandomMutator
from hyperbox.nas.spaces import InputSpace, OperationSpace, ValueSpace

torch.set_num_threads(1)


class Counting(nn.Module):
    """Multiplies by a fixed factor and counts its calls."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.factor


class Zero(Counting):
    is_zero = True

    def __init__(self) -> None:
        super().__init__(0.0)


class TinyNet(nn.Module):
    """Two OperationSpaces sharing a key, an InputSpace of each kind, a ValueSpace."""

    def __init__(self) -> None:
        super().__init__()
        self.op_a = OperationSpace([nn.Linear(4, 4), nn.Tanh(), nn.Identity()], key="op")
        self.op_b = OperationSpace([nn.Linear(4, 4), nn.Tanh(), nn.Identity()], key="op")
        self.pick2 = InputSpace(3, 2, key="pick2")
        self.pick_any = InputSpace(3, None, key="pick_any")
        self.gain = ValueSpace([1, 2], key="gain")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.op_a(x)
        b = self.op_b(a)
        return self.pick_any([x, a, self.pick2([x, a, b])]) * self.gain.value


# --- conformance ------------------------------------------------------------------------------


class TestRandomConformance(MutatorTestCase):
    mutator_factory = RandomMutator


class TestRandomOnATorchModel(MutatorTestCase):
    mutator_factory = RandomMutator

    def create_space(self) -> TinyNet:
        return TinyNet()


class TestDartsConformance(MutatorTestCase):
    mutator_factory = DartsMutator
    domains = (Categorical, Subset)


class TestDartsOnATorchModel(MutatorTestCase):
    mutator_factory = DartsMutator
    domains = (Categorical, Subset)

    def create_space(self) -> TinyNet:
        return TinyNet()


class TestGDASConformance(MutatorTestCase):
    mutator_factory = GDASMutator
    domains = (Categorical, Subset)


class TestGDASOnATorchModel(MutatorTestCase):
    mutator_factory = GDASMutator
    domains = (Categorical, Subset)

    def create_space(self) -> TinyNet:
        return TinyNet()


# --- random -----------------------------------------------------------------------------------


def test_random_is_uniform_and_drives_the_model() -> None:
    net = TinyNet()
    mutator = RandomMutator(net, seed=0)
    counts = collections.Counter()
    for _ in range(600):
        arch = mutator.reset()
        counts[arch["op"]] += 1
        assert net.op_a.decision == net.op_b.decision == arch["op"]
        assert net.gain.value == [1, 2][arch["gain"]]
    assert set(counts) == {0, 1, 2} and all(150 < c < 250 for c in counts.values())
    assert net(torch.randn(2, 4)).shape == (2, 4)


# --- DARTS ------------------------------------------------------------------------------------


def test_darts_rejects_ranges_naming_the_key() -> None:
    space = ToySpace([ToyMutable("op", Categorical(3)), ToyMutable("depth", IntRange(1, 4))])
    with pytest.raises(ValueError, match="'depth'"):
        DartsMutator(space)


def test_darts_alphas_are_seeded_small_and_outside_the_model() -> None:
    net = TinyNet()
    first, second = DartsMutator(net, seed=4), DartsMutator(net, seed=4)
    for a, b in zip(first.arch_parameters(), second.arch_parameters()):
        assert torch.equal(a, b) and a.abs().max() < 0.01
    assert sorted(first.alphas) == ["gain", "op", "pick2", "pick_any"]
    model_params = {id(p) for p in net.parameters()}
    assert not any(id(a) in model_params for a in first.arch_parameters())


def test_darts_mixed_forward_is_the_softmax_mixture_and_trains_alphas() -> None:
    ops = [Counting(1.0), Counting(-1.0), Zero()]
    space = OperationSpace(ops, key="op")
    mutator = DartsMutator(space, seed=0)
    mutator.reset()
    assert mutator.mixing
    x = torch.ones(3)
    weights = mutator.alphas["op"].softmax(-1)
    torch.testing.assert_close(space(x), (weights[0] - weights[1]) * x)
    assert [op.calls for op in ops] == [1, 1, 0]  # the zero op costs nothing
    optimizer = torch.optim.Adam(mutator.arch_parameters(), lr=0.1)
    for _ in range(40):
        optimizer.zero_grad()
        loss = ((space(x) - x) ** 2).mean()  # the identity-like candidate wins
        loss.backward()
        assert mutator.alphas["op"].grad.abs().sum() > 0
        optimizer.step()
    assert mutator.export() == {"op": 0}
    assert mutator.fix() == {"op": 0} and not mutator.mixing
    calls = [op.calls for op in ops]
    space(x)
    assert [op.calls - c for op, c in zip(ops, calls)] == [1, 0, 0]


def test_darts_export_takes_top_k_and_above_uniform_inputs() -> None:
    net = TinyNet()
    mutator = DartsMutator(net, seed=0)
    with torch.no_grad():
        mutator.alphas["op"].copy_(torch.tensor([0.0, 3.0, 1.0]))
        mutator.alphas["pick2"].copy_(torch.tensor([2.0, -1.0, 1.5]))
        mutator.alphas["pick_any"].copy_(torch.tensor([1.0, 1.2, -2.0]))
        mutator.alphas["gain"].copy_(torch.tensor([0.0, 1.0]))
    assert mutator.export() == {"op": 1, "pick2": [1, 0, 1], "pick_any": [1, 1, 0], "gain": 1}
    with torch.no_grad():
        mutator.alphas["pick_any"].copy_(torch.tensor([0.0, 0.0, 0.0]))  # none above uniform: keep one
    assert sum(mutator.export()["pick_any"]) == 1


def test_darts_sampling_follows_the_learnt_distribution() -> None:
    space = OperationSpace([nn.Identity(), nn.Identity(), nn.Identity()], key="op")
    mutator = DartsMutator(space, seed=0)
    with torch.no_grad():
        mutator.alphas["op"].copy_(torch.tensor([0.0, 3.0, 0.0]))
    counts = collections.Counter(mutator.sample_search()["op"] for _ in range(400))
    assert counts[1] > 300  # softmax weight ~0.91


def test_darts_gradients_reach_input_and_operation_alphas_through_a_model() -> None:
    net = TinyNet()
    mutator = DartsMutator(net, seed=0)
    mutator.reset()
    net(torch.randn(5, 4)).pow(2).mean().backward()
    for key in ("op", "pick2", "pick_any"):
        assert mutator.alphas[key].grad is not None and mutator.alphas[key].grad.abs().sum() > 0, key
    assert mutator.alphas["gain"].grad is None  # a ValueSpace read by plain code is sampled, not mixed


# --- GDAS -------------------------------------------------------------------------------------


def test_gdas_computes_one_candidate_and_still_trains_alphas() -> None:
    ops = [Counting(1.0), Counting(2.0), Counting(3.0), Counting(4.0)]
    space = OperationSpace(ops, key="op")
    mutator = GDASMutator(space, seed=0)
    chosen = set()
    for step in range(12):
        arch = mutator.reset()
        chosen.add(arch["op"])
        before = [op.calls for op in ops]
        out = space(torch.ones(2))
        ran = [op.calls - b for op, b in zip(ops, before)]
        assert ran == [int(i == arch["op"]) for i in range(4)], step
        torch.testing.assert_close(out, torch.full((2,), ops[arch["op"]].factor))  # hard weight is 1
        mutator.alphas["op"].grad = None
        out.sum().backward()
        assert mutator.alphas["op"].grad.abs().sum() > 0
    assert len(chosen) > 1


def test_gdas_input_space_uses_only_the_sampled_inputs() -> None:
    space = InputSpace(4, 2, key="in")
    mutator = GDASMutator(space, seed=1)
    arch = mutator.reset()
    inputs = [torch.full((1,), 10.0**i) for i in range(4)]
    expected = sum(10.0**i for i in arch["in"])
    assert space(inputs).item() == pytest.approx(expected)


def test_gdas_temperature_anneals() -> None:
    mutator = GDASMutator(OperationSpace([nn.ReLU(), nn.Tanh()], key="op"), tau_max=5.0, tau_min=0.5)
    assert mutator.tau == 5.0
    assert mutator.set_epoch(0, 10) == 5.0
    assert mutator.set_epoch(9, 10) == pytest.approx(0.5)
    assert 0.5 < mutator.set_epoch(4, 10) < 5.0
    assert all(mixer.tau == mutator.tau for mixer in mutator._mixers.values())
    with pytest.raises(ValueError):
        GDASMutator(OperationSpace([nn.ReLU()], key="op"), tau_max=0.1, tau_min=1.0)
