"""OperationSpace, InputSpace and ValueSpace: the seed's examples, masks, errors and the mixer hook."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hyperbox.kernel import SearchSpace, find_mutables
from hyperbox.nas.mutators import RandomMutator
from hyperbox.nas.spaces import InputSpace, OperationSpace, ValueSpace

torch.set_num_threads(1)


class Counting(nn.Module):
    """Multiplies by ``factor`` and counts its calls."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.factor


class CountingZero(Counting):
    """A DARTS ``none`` op: always zero, so mixed mode must never run it."""

    is_zero = True

    def __init__(self) -> None:
        super().__init__(0.0)


def seed_convs() -> list[nn.Conv2d]:
    return [nn.Conv2d(3, 16, k, stride=1, padding=k // 2) for k in (3, 5, 7)]


# --- the seed article's examples -------------------------------------------------------------


def test_operation_space_mask_picks_the_first_op() -> None:
    op1, op2, op3 = seed_convs()
    ops = OperationSpace(candidates=[op1, op2, op3], key="conv_op", mask=[1, 0, 0])
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(ops(x), op1(x))
    assert ops.mask.dtype == torch.bool and ops.mask.tolist() == [True, False, False]
    assert ops.length == 3 and ops.key == "conv_op" and ops.candidates[0] is op1
    assert ops.domain.labels == ("Conv2d_3x3", "Conv2d_5x5", "Conv2d_7x7")  # told apart by kernel size


def test_named_candidates_label_the_choices_and_the_values() -> None:
    op1, op2, op3 = seed_convs()
    ops = OperationSpace({"conv3x3": op1, "conv5x5": op2, "conv7x7": op3}, key="conv_op", mask=[0, 1, 0])
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(ops(x), op2(x)) and ops.candidates[2] is op3
    assert ops.domain.labels == ("conv3x3", "conv5x5", "conv7x7")
    assert SearchSpace.of(ops).values_of({"conv_op": 2}) == {"conv_op": "conv7x7"}


def test_input_space_returns_the_very_chosen_tensor() -> None:
    in1, in2, in3 = torch.rand(2, 64), torch.rand(2, 32), torch.rand(2, 16)
    skipconnect = InputSpace(n_candidates=3, n_chosen=1, key="sc", mask=[0, 1, 0])
    out = skipconnect([in1, in2, in3])
    assert out is in2
    assert skipconnect.n_candidates == 3 and skipconnect.n_chosen == 1
    assert skipconnect.mask.tolist() == [False, True, False]


def test_value_space_value_is_the_choice_or_the_largest() -> None:
    ks = ValueSpace([3, 5, 7], key="kernelSize", mask=[0, 1, 0])
    assert ks.value == 5 and ks.length == 3 and ks.candidates == [3, 5, 7]
    open_choice = ValueSpace([16, 64, 32], key="channelOut")
    assert open_choice.value == 64 and open_choice.mask is None
    open_choice.mask = torch.tensor([1, 0, 0])
    assert open_choice.value == 16 and open_choice.decision == 0
    open_choice.decision = None
    assert open_choice.value == 64


# --- masks in every form ----------------------------------------------------------------------


def test_only_the_chosen_candidate_runs() -> None:
    ops = [Counting(1.0), Counting(2.0), Counting(3.0)]
    space = OperationSpace(ops, key="op", mask=torch.tensor([False, False, True]))
    out = space(torch.ones(2))
    assert out.tolist() == [3.0, 3.0]
    assert [op.calls for op in ops] == [0, 0, 1]


def test_mask_can_be_set_from_list_tensor_and_dict() -> None:
    space = OperationSpace([Counting(1.0), Counting(2.0)], key="op")
    assert space.mask is None and space.decision is None
    space.mask = [0, 1]
    assert space(torch.ones(1)).item() == 2.0
    space.mask = torch.tensor([1, 0])
    assert space(torch.ones(1)).item() == 1.0
    space.mask = {"op": [0, 1], "unrelated": [1, 0, 0]}
    assert space.decision == 1


def test_dict_mask_covers_many_mutables() -> None:
    arch = {"conv_op": [0, 1, 0], "sc": [1, 0, 1], "width": [0, 0, 1]}
    ops = OperationSpace(seed_convs(), key="conv_op", mask=arch)
    inputs = InputSpace(3, None, key="sc", mask=arch)
    width = ValueSpace([8, 16, 32], key="width", mask=arch)
    assert ops.decision == 1
    assert inputs.decision == (0, 2)
    assert width.value == 32


def test_json_file_mask(tmp_path) -> None:
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"conv_op": [0, 0, 1], "sc": [0, 1, 1]}))
    ops = OperationSpace(seed_convs(), key="conv_op", mask=str(path))
    inputs = InputSpace(3, 2, key="sc", mask=path)
    assert ops.decision == 2 and inputs.decision == (1, 2)
    ops.mask = path
    assert ops.decision == 2


def test_input_space_reductions() -> None:
    a, b, c = torch.full((2, 3), 1.0), torch.full((2, 3), 2.0), torch.full((2, 3), 4.0)
    expected = {"sum": 5.0, "mean": 2.5}
    for reduction, value in expected.items():
        space = InputSpace(3, 2, key="in", mask=[1, 0, 1], reduction=reduction)
        assert torch.equal(space([a, b, c]), torch.full((2, 3), value))
    concat = InputSpace(3, 2, key="in", mask=[0, 1, 1], reduction="concat")([a, b, c])
    assert concat.shape == (2, 6) and torch.equal(concat[:, 3:], c)
    listed = InputSpace(3, 1, key="in", mask=[0, 0, 1], reduction="none")([a, b, c])
    assert isinstance(listed, list) and listed[0] is c


# --- shared keys ------------------------------------------------------------------------------


class SharedKeyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = OperationSpace([nn.Identity(), nn.ReLU(), nn.Tanh()], key="act")
        self.second = OperationSpace([nn.Identity(), nn.ReLU(), nn.Tanh()], key="act")
        self.plain = OperationSpace([nn.Identity(), nn.Sigmoid()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.plain(self.second(self.first(x)))


def test_shared_key_takes_one_decision_and_missing_keys_come_from_the_path() -> None:
    net = SharedKeyNet()
    space = SearchSpace.of(net)
    assert sorted(space) == ["act", "plain"]
    mutator = RandomMutator(net, seed=0)
    for _ in range(6):
        mutator.reset()
        assert net.first.decision == net.second.decision == mutator._cache["act"]
    assert net.plain.key == "plain"


def test_shared_key_with_other_candidates_is_an_error() -> None:
    model = nn.ModuleList([OperationSpace([nn.ReLU(), nn.Tanh()], key="act"), OperationSpace([nn.ReLU()], key="act")])
    with pytest.raises(ValueError, match="'act'"):
        SearchSpace.of(model)


def test_spaces_register_no_module_twice() -> None:
    space = OperationSpace([nn.Linear(2, 2), nn.Linear(2, 2)], key="op", mask=[0, 1])
    assert sorted(space.state_dict()) == [f"candidates.{i}.{name}" for i in (0, 1) for name in ("bias", "weight")]
    assert len(list(space.modules())) == 4  # itself, the ModuleList, two candidates


# --- errors name the key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: OperationSpace(seed_convs(), key="conv_op", mask=[1, 0]),
        lambda: OperationSpace(seed_convs(), key="conv_op", mask=[1, 1, 0]),
        lambda: OperationSpace(seed_convs(), key="conv_op", mask={"other": [1, 0, 0]}),
        lambda: InputSpace(3, 1, key="conv_op", mask=[1, 1, 0]),
        lambda: InputSpace(3, 2, key="conv_op", mask=[1, 0, 0, 0]),
        lambda: ValueSpace([1, 2], key="conv_op", mask=[0, 0]),
    ],
    ids=["short", "multi-hot", "dict-without-key", "too-many-inputs", "long", "no-choice"],
)
def test_bad_masks_are_value_errors_naming_the_key(build) -> None:
    with pytest.raises(ValueError, match="'conv_op'"):
        build()


def test_wrong_number_of_inputs_names_the_key() -> None:
    space = InputSpace(3, 1, key="sc", mask=[1, 0, 0])
    with pytest.raises(ValueError, match="'sc'.*2 inputs, expected 3"):
        space([torch.zeros(1), torch.zeros(1)])


@pytest.mark.parametrize("space", [OperationSpace([nn.ReLU()], key="todo"), InputSpace(2, 1, key="todo")])
def test_undecided_forward_is_an_error(space) -> None:
    args = [torch.zeros(1), torch.zeros(1)] if isinstance(space, InputSpace) else torch.zeros(1)
    with pytest.raises(ValueError, match="mutable 'todo': no decision; sample an architecture with a mutator first"):
        space(args)


# --- the mixer hook (differentiable mode) -----------------------------------------------------


def test_mixer_weights_the_candidates_and_overrides_the_decision() -> None:
    ops = [Counting(1.0), Counting(2.0), Counting(3.0)]
    space = OperationSpace(ops, key="op", mask=[1, 0, 0])
    space.mixer = lambda: (torch.tensor([0.5, 0.25, 0.25]), None)
    assert space(torch.ones(1)).item() == pytest.approx(0.5 + 0.5 + 0.75)
    assert [op.calls for op in ops] == [1, 1, 1]
    space.mixer = None
    assert space(torch.ones(1)).item() == 1.0


def test_mixer_computes_only_active_candidates_and_never_zero_ops() -> None:
    zero, one, two = CountingZero(), Counting(1.0), Counting(2.0)
    space = OperationSpace([zero, one, two], key="op")
    space.mixer = lambda: (torch.tensor([0.2, 0.3, 0.5]), None)
    assert space(torch.ones(1)).item() == pytest.approx(0.3 + 1.0)
    assert zero.calls == 0
    space.mixer = lambda: (torch.tensor([0.0, 0.0, 1.0]), (2,))
    assert space(torch.ones(1)).item() == 2.0
    assert (zero.calls, one.calls, two.calls) == (0, 1, 2)
    space.mixer = lambda: (torch.tensor([1.0, 0.0, 0.0]), (0,))  # only the zero op chosen: still a shaped output
    assert space(torch.ones(3)).tolist() == [0.0, 0.0, 0.0]


def test_input_space_mixer_weights_inputs() -> None:
    space = InputSpace(3, 1, key="in")
    space.mixer = lambda: (torch.tensor([0.5, 0.5, 0.0]), (0, 1))
    out = space([torch.full((2,), 2.0), torch.full((2,), 4.0), torch.full((2,), 100.0)])
    assert out.tolist() == [3.0, 3.0]


def test_value_space_is_not_mixable() -> None:
    # Differentiable mutators detect mixable spaces by this hook; values are read by ops instead.
    assert not hasattr(ValueSpace([1, 2], key="v"), "mixer")
    assert hasattr(InputSpace(2, key="i"), "mixer") and hasattr(OperationSpace([nn.ReLU()], key="o"), "mixer")


def test_spaces_are_found_as_mutables_in_a_model() -> None:
    model = nn.Sequential(OperationSpace([nn.ReLU(), nn.Tanh()]), ValueSpace([1, 2]))
    keys = [m.key for m in find_mutables(model)]
    assert keys == ["0", "1"]
