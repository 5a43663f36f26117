"""build_subnet: a plain model with the supernet's weights and the same outputs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hyperbox.kernel import find_mutables, save_arch
from hyperbox.nas.mutators import DartsMutator, RandomMutator
from hyperbox.nas.spaces import InputSpace, OperationSpace, ValueSpace
from hyperbox.nas.subnet import FixedValue, SelectInputs, build_subnet

torch.set_num_threads(1)


class SlicedLinear(nn.Module):
    """A stand-in for the searchable ops: a linear layer whose width is a ValueSpace."""

    def __init__(self, in_features: int, width: ValueSpace) -> None:
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.randn(max(width.candidates), in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight[: self.width.value].t()

    def export_module(self) -> nn.Linear:
        linear = nn.Linear(self.weight.shape[1], self.width.value, bias=False)
        linear.weight.data.copy_(self.weight.data[: self.width.value])
        return linear


class Supernet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.op1 = OperationSpace(
            [
                nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
                nn.Sequential(nn.Conv2d(8, 8, 5, padding=2), nn.BatchNorm2d(8), nn.ReLU()),
                nn.Identity(),
            ],
            key="op1",
        )
        self.op2 = OperationSpace([nn.Conv2d(8, 8, 1), nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1)], key="op2")
        self.op2_again = self.op2  # one module at two places stays one module
        self.skip = InputSpace(3, None, key="skip", reduction="sum")
        self.scale = ValueSpace([1, 2, 3], key="scale")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 5)
        self.side = SlicedLinear(8, ValueSpace([2, 4], key="side_width"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.stem(x)
        b = self.op1(a)
        c = self.op2(b)
        mixed = self.skip([a, b, c]) * self.scale.value
        features = self.pool(mixed).flatten(1)
        return self.head(features) + self.side(features).sum(1, keepdim=True)


def make_supernet() -> Supernet:
    torch.manual_seed(0)
    net = Supernet()
    # Non-trivial BatchNorm statistics, so the subnet must carry the running buffers over.
    mutator = RandomMutator(net, seed=0)
    with torch.no_grad():
        for _ in range(4):
            mutator.reset()
            net(torch.randn(4, 3, 8, 8))
    return net.eval()


def test_random_subnets_match_the_supernet() -> None:
    net = make_supernet()
    mutator = RandomMutator(net, seed=1)
    x = torch.randn(2, 3, 8, 8)
    for _ in range(8):
        arch = mutator.reset()
        subnet = build_subnet(net, arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), net(x), atol=1e-5, rtol=0)


def test_subnet_is_plain_and_holds_only_the_chosen_parts() -> None:
    net = make_supernet()
    arch = {"op1": 1, "op2": 0, "skip": [1, 0, 1], "scale": 2, "side_width": 0}
    subnet = build_subnet(net, arch)
    assert find_mutables(subnet) == []
    kinds = {type(m) for m in subnet.modules()}
    assert not kinds & {OperationSpace, InputSpace, ValueSpace, SlicedLinear}
    assert isinstance(subnet.op1, nn.Sequential) and subnet.op1[0].kernel_size == (5, 5)
    assert isinstance(subnet.op2, nn.Conv2d) and subnet.op2_again is subnet.op2
    assert isinstance(subnet.skip, SelectInputs) and subnet.skip.chosen == (0, 2)
    assert isinstance(subnet.scale, FixedValue) and subnet.scale.value == 3
    assert isinstance(subnet.side, nn.Linear) and subnet.side.weight.shape == (2, 8)
    # Weights come from the supernet, the unchosen candidates are gone.
    assert torch.equal(subnet.op1[0].weight, net.op1.candidates[1][0].weight)
    assert torch.equal(subnet.op1[1].running_mean, net.op1.candidates[1][1].running_mean)
    assert sum(p.numel() for p in subnet.parameters()) < sum(p.numel() for p in net.parameters())


def test_the_supernet_is_left_unchanged() -> None:
    net = make_supernet()
    before = {name: t.clone() for name, t in net.state_dict().items()}
    decisions = [m.decision for m in find_mutables(net)]
    build_subnet(net, {"op1": 2, "op2": 1, "skip": [0, 1, 0], "scale": 0, "side_width": 1})
    assert [m.decision for m in find_mutables(net)] == decisions
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(net.op1, OperationSpace) and isinstance(net.side, SlicedLinear)


def test_exported_json_builds_the_same_subnet(tmp_path) -> None:
    net = make_supernet()
    mutator = RandomMutator(net, seed=7)
    mutator.reset()
    path = tmp_path / "arch.json"
    save_arch(path, mutator._cache, mutator.space)
    assert json.loads(path.read_text()) == mutator.export()
    from_file, current = build_subnet(net, path), build_subnet(net)  # None: the current decisions
    assert str(from_file) == str(current)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(from_file(x), current(x))


def test_subnet_of_a_differentiable_search_drags_no_mutator_along() -> None:
    net = make_supernet()
    mutator = DartsMutator(net, seed=0)
    mutator.reset()
    subnet = build_subnet(net, mutator.export()).eval()
    alphas = {id(a) for a in mutator.arch_parameters()}
    assert not any(id(p) in alphas for p in subnet.parameters())
    mutator.fix()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(subnet(x), net(x), atol=1e-5, rtol=0)


def test_bad_architectures_name_the_keys() -> None:
    net = make_supernet()
    full = {"op1": 0, "op2": 0, "skip": [1, 0, 0], "scale": 0, "side_width": 0}
    with pytest.raises(ValueError, match="unknown key.*'nope'"):
        build_subnet(net, {**full, "nope": 1})
    with pytest.raises(ValueError, match="missing key.*'scale'"):
        build_subnet(net, {k: v for k, v in full.items() if k != "scale"})
    with pytest.raises(ValueError, match="'op1'"):
        build_subnet(net, {**full, "op1": [1, 1, 0]})


def test_undecided_supernet_needs_an_architecture() -> None:
    net = Supernet()
    with pytest.raises(ValueError, match="'op1'"):
        build_subnet(net)


def test_a_mutable_without_export_is_an_error() -> None:
    from hyperbox.kernel import Categorical, Mutable

    class Opaque(nn.Module, Mutable):
        def __init__(self) -> None:
            super().__init__()
            self.init_mutable("opaque", Categorical(2), mask=0)

    with pytest.raises(ValueError, match="'opaque'"):
        build_subnet(nn.Sequential(nn.ReLU(), Opaque()))


def test_demo_space_subnets_equal_the_supernet(tmp_path) -> None:
    import json

    from hyperbox.kernel import SearchSpace
    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.mutators import RandomMutator

    space = DigitsCNNSpace().eval()
    mutator = RandomMutator(space, seed=0)
    x = torch.rand(4, 1, 8, 8)
    for _ in range(6):
        arch = mutator.reset()
        subnet = build_subnet(space, arch).eval()
        torch.testing.assert_close(subnet(x), space(x), atol=1e-5, rtol=1e-5)
        path = tmp_path / "arch.json"
        path.write_text(json.dumps(SearchSpace.of(space).to_json(arch)))
        torch.testing.assert_close(build_subnet(space, str(path)).eval()(x), subnet(x))
