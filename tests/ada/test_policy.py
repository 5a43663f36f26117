"""AugmentationPolicy as a search space: keys, every Kornia op, eval identity, seeding, errors."""

from __future__ import annotations

import random

import pytest
import torch

from hyperbox.ada import OPERATIONS, AugmentationPolicy
from hyperbox.ada.ops import RGB_ONLY
from hyperbox.kernel import Categorical, SearchSpace, save_arch

torch.set_num_threads(1)


def decided_policy(**kwargs) -> AugmentationPolicy:
    """A policy with every decision set to the first candidate (or to ``mask``)."""
    policy = AugmentationPolicy(**kwargs)
    space = SearchSpace.of(policy)
    space.apply({key: 0 for key in space})
    return policy


def test_the_kernel_finds_op_magnitude_and_probability_per_slot():
    space = SearchSpace.of(AugmentationPolicy(ops=["rotate", "invert"], n_subpolicies=2, ops_per_subpolicy=3))
    slots = [f"policy.s{s}.op{j}" for s in range(2) for j in range(3)]
    assert list(space) == [f"{slot}.{what}" for slot in slots for what in ("op", "magnitude", "prob")]
    assert space["policy.s1.op2.op"] == Categorical(2, labels=("rotate", "invert"))
    assert space["policy.s0.op0.magnitude"].n == 10 and space["policy.s0.op0.prob"].n == 11


@pytest.mark.parametrize(
    ("name", "channels"), [(name, c) for name in OPERATIONS for c in (1, 3) if c == 3 or name not in RGB_ONLY]
)
def test_every_op_keeps_shape_and_range(name, channels):
    images = torch.rand(4, channels, 8, 8)
    for magnitude in (0, 9):  # both ends of Kornia's scale
        policy = decided_policy(
            ops=[name], n_subpolicies=1, ops_per_subpolicy=1, magnitudes=[magnitude], probabilities=[1.0]
        )
        out = policy(images)
        assert out.shape == images.shape and out.dtype == images.dtype
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


def test_rgb_only_op_is_rejected_for_grey_images():
    with pytest.raises(ValueError, match="op 'color' needs 3-channel"):
        AugmentationPolicy(ops=["rotate", "color"], in_channels=1)


def test_eval_mode_is_the_identity():
    policy = decided_policy(ops=["invert"], probabilities=[1.0]).eval()
    images = torch.rand(2, 1, 8, 8)
    assert policy(images) is images


def test_training_mode_augments():
    policy = decided_policy(ops=["invert"], ops_per_subpolicy=1, probabilities=[1.0])
    images = torch.rand(2, 1, 8, 8)
    assert torch.allclose(policy(images), 1 - images, atol=1e-6)


def test_same_seed_same_augmentation():
    policy = decided_policy(ops=["rotate", "shear_x", "contrast"], n_subpolicies=3, probabilities=[0.5])
    images = torch.rand(8, 3, 16, 16)
    torch.manual_seed(7)
    first = policy(images)
    torch.manual_seed(7)
    assert torch.equal(policy(images), first)
    assert not torch.equal(policy(images), first)  # the generator moved on


def test_mask_from_an_architecture_file(tmp_path):
    policy = AugmentationPolicy(n_subpolicies=2)
    space = SearchSpace.of(policy)
    arch = space.sample(random.Random(0))
    save_arch(tmp_path / "arch.json", arch, space)
    loaded = AugmentationPolicy(n_subpolicies=2, mask=tmp_path / "arch.json")
    assert loaded.decisions() == space.validate(arch)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ops": ["rotate", "blur"]}, "unknown op 'blur'"),
        ({"ops": []}, "ops is empty"),
        ({"ops": ["rotate", "rotate"]}, "repeat"),
        ({"magnitudes": [0, 10]}, r"bins in 0\.\.9"),
        ({"probabilities": [0.5, 1.5]}, r"in \[0, 1\]"),
        ({"n_subpolicies": 0}, "n_subpolicies=0"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentationPolicy(**kwargs)


def test_undecided_policy_names_its_keys():
    with pytest.raises(ValueError, match=r"policy.s0.op0.op"):
        AugmentationPolicy(n_subpolicies=1, ops_per_subpolicy=1)(torch.rand(1, 1, 8, 8))
