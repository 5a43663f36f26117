"""Export: a found policy is a runnable Kornia pipeline, and the augmented model a plain PyTorch one."""

from __future__ import annotations

import random

import torch
from torch import nn

from hyperbox.ada import AugmentationPolicy, augmented
from hyperbox.kernel import SearchSpace, find_mutables, save_arch
from hyperbox.nas.demo_space import DigitsCNNSpace
from hyperbox.nas.mutators import RandomMutator
from hyperbox.nas.subnet import build_subnet

torch.set_num_threads(1)


def no_hyperbox_classes(module: nn.Module) -> bool:
    return not any(type(m).__module__.startswith("hyperbox") for m in module.modules())


def test_to_kornia_reproduces_the_policy_for_a_fixed_random_state():
    policy = AugmentationPolicy(n_subpolicies=3, probabilities=[1.0])
    arch = RandomMutator(policy, seed=3).reset()
    images = torch.rand(6, 1, 12, 12)
    torch.manual_seed(0)
    inside = policy(images)
    exported = policy.to_kornia(arch)
    torch.manual_seed(0)
    assert torch.equal(exported(images), inside)
    assert type(exported).__module__.startswith("kornia") and no_hyperbox_classes(exported)


def test_the_exported_policy_is_kornias_autoaugment_format():
    policy = AugmentationPolicy(ops=["rotate", "invert"], n_subpolicies=1, magnitudes=[4], probabilities=[0.8])
    arch = {key: 0 for key in SearchSpace.of(policy)} | {"policy.s0.op1.op": 1}
    assert policy.kornia_policy(arch) == [[("rotate", 0.8, 4), ("invert", 0.8, None)]]


def test_save_and_load_through_architecture_json(tmp_path):
    policy = AugmentationPolicy(n_subpolicies=2)
    space = SearchSpace.of(policy)
    arch = space.sample(random.Random(1))
    save_arch(tmp_path / "best_arch.json", arch, space)
    assert policy.kornia_policy(tmp_path / "best_arch.json") == policy.kornia_policy(arch)


def test_build_subnet_of_an_augmented_network_is_plain_pytorch():
    policy = {"ops": ["invert"], "ops_per_subpolicy": 1, "probabilities": [1.0]}  # augmentation: 1 - x
    model = augmented(DigitsCNNSpace(), policy, in_channels=1)
    assert {"stem_width", "policy.s0.op0.op"} <= set(SearchSpace.of(model))
    subnet = build_subnet(model, RandomMutator(model, seed=0).reset())
    assert not find_mutables(subnet)
    assert type(subnet.augmentation).__name__ == "AutoAugment" and no_hyperbox_classes(subnet.augmentation)
    images = torch.rand(4, 1, 8, 8)
    subnet.eval()
    assert torch.equal(subnet(images), subnet.network(images))  # eval mode: no augmentation
    subnet.train()
    subnet.network.eval()  # dropout aside: the wrapper's own mode decides on augmentation
    assert torch.allclose(subnet(images), subnet.network(1 - images), atol=1e-5)


def test_a_fixed_network_leaves_only_the_policy_to_search():
    arch = {"stem_width": 0, "stem_kernel": 0, "block_width": 0, "head_width": 0, "block1_op": 0, "block2_op": 1}
    model = augmented(DigitsCNNSpace(), {"n_subpolicies": 1}, network_arch=arch, in_channels=1)
    assert all(key.startswith("policy.") for key in SearchSpace.of(model))
