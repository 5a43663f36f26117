"""Any mutator searches a policy: random and evolution sample valid ones, DARTS/GDAS mix the ops."""

from __future__ import annotations

import pytest
import torch

from hyperbox.ada import AugmentationPolicy
from hyperbox.nas.mutators import DartsMutator, EvolutionMutator, GDASMutator, RandomMutator

torch.set_num_threads(1)
OPS = ["rotate", "translate_x", "contrast", "invert"]


def assert_valid(policy: AugmentationPolicy) -> None:
    found = policy.kornia_policy()
    assert len(found) == 3 and all(len(subpolicy) == 2 for subpolicy in found)
    for name, probability, magnitude in (entry for subpolicy in found for entry in subpolicy):
        assert name in OPS and probability in (0.0, 0.5, 1.0)
        assert magnitude is None if name == "invert" else magnitude in (2, 7)
    assert policy(torch.rand(4, 1, 8, 8)).shape == (4, 1, 8, 8)


@pytest.fixture
def policy():
    return AugmentationPolicy(ops=OPS, n_subpolicies=3, magnitudes=[2, 7], probabilities=[0.0, 0.5, 1.0])


def test_random_search_samples_valid_policies(policy):
    mutator = RandomMutator(policy, seed=0)
    archs = [mutator.reset() for _ in range(5)]
    for arch in archs:
        mutator.apply(arch)
        assert_valid(policy)
    assert len({tuple(arch.values()) for arch in archs}) == 5


def test_evolution_samples_valid_policies(policy):
    mutator = EvolutionMutator(policy, seed=0, population_size=3, sample_size=2)
    for step in range(8):
        arch = mutator.reset()
        assert_valid(policy)
        mutator.observe(arch, {"accuracy": step / 8})


@pytest.mark.parametrize("mutator_class", [DartsMutator, GDASMutator])
def test_differentiable_mixing_gives_the_op_weights_gradients(mutator_class):
    policy = AugmentationPolicy(ops=OPS, n_subpolicies=1, probabilities=[1.0])
    mutator = mutator_class(policy, seed=0)
    mutator.reset()
    images = torch.rand(4, 1, 8, 8)
    policy(images).square().mean().backward()
    for slot in ("policy.s0.op0", "policy.s0.op1"):
        gradient = mutator.alphas[f"{slot}.op"].grad
        assert gradient is not None and gradient.abs().sum() > 0
    mutator.fix()  # the argmax policy runs as a plain Kornia pipeline again
    assert not torch.equal(policy(images), images)
