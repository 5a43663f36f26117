"""DADA: every relaxed decision gets a gradient, a search step moves all three, and a search ends in a policy."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperbox.ada import AugmentationPolicy, RelaxedPolicy, load_policy
from hyperbox.ada.dada import DadaTrainer
from hyperbox.kernel import search

torch.set_num_threads(1)
OPS = ["rotate", "contrast", "solarize", "invert"]


def relaxed_policy(**kwargs) -> RelaxedPolicy:
    return RelaxedPolicy(AugmentationPolicy(ops=OPS, n_subpolicies=1, ops_per_subpolicy=1, in_channels=1, **kwargs))


@pytest.mark.parametrize("name", ["rotate", "contrast", "solarize"])
def test_op_weights_probabilities_and_magnitudes_all_receive_gradients(name):
    policy = AugmentationPolicy(ops=[name, "invert"], n_subpolicies=1, ops_per_subpolicy=1, probabilities=[0.9])
    relaxed = RelaxedPolicy(policy)
    with torch.no_grad():
        relaxed.probabilities.fill_(0.9)
        relaxed.magnitudes.fill_(0.8)  # the middle of a signed or factor scale changes nothing
    images, target = torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8)
    for seed in range(20):  # until the Gumbel draw picks `name` (index 0)
        torch.manual_seed(seed)
        relaxed.zero_grad()
        (relaxed(images) - target).square().mean().backward()
        if relaxed.probabilities.grad[0, 0] != 0:
            break
    assert relaxed.op_logits.grad[0].abs().sum() > 0  # the drawn op and, standing in as identity, the other
    assert relaxed.probabilities.grad[0, 0] != 0
    assert relaxed.magnitudes.grad[0, 0] != 0  # solarize: DADA's straight-through estimator


def test_a_dada_step_changes_op_weights_probabilities_and_magnitudes():
    torch.manual_seed(0)
    relaxed = relaxed_policy()
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = DadaTrainer(policy_lr=0.05)
    weights = list(network.parameters())
    w_optimizer = torch.optim.SGD(weights, lr=0.5, momentum=0.9)
    policy_optimizer = torch.optim.Adam(relaxed.parameters(), lr=0.05, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in relaxed.parameters()]
    train = (torch.rand(16, 1, 8, 8), torch.randint(10, (16,)))
    val = (torch.rand(16, 1, 8, 8), torch.randint(10, (16,)))
    for _ in range(3):
        trainer.policy_step(network, relaxed, weights, w_optimizer, policy_optimizer, train, val)
        trainer.weight_step(network, relaxed, weights, w_optimizer, train)
    names = ["op_logits", "probabilities", "magnitudes"]
    changed = [name for name, old, new in zip(names, before, relaxed.parameters()) if not torch.equal(old, new)]
    assert changed == names


def test_derive_rounds_to_the_policy_grid():
    relaxed = relaxed_policy(magnitudes=[2, 7], probabilities=[0.0, 0.5, 1.0])
    with torch.no_grad():
        relaxed.op_logits[0, 1] = 3.0  # contrast
        relaxed.probabilities[0, 1] = 0.8
        relaxed.magnitudes[0, 1] = 0.62  # bin 6 on Kornia's eleven-point scale: nearest candidate 7
    assert relaxed.derive() == {"policy.s0.op0.op": 1, "policy.s0.op0.magnitude": 1, "policy.s0.op0.prob": 2}


@pytest.mark.slow
def test_a_dada_search_on_digits_exports_a_policy_that_trains(tmp_path):
    space = {
        "name": "augmented",
        "network": {"name": "digits_cnn"},
        "network_arch": {
            "stem_width": 0,
            "stem_kernel": 0,
            "block_width": 0,
            "head_width": 0,
            "block1_op": 0,
            "block2_op": 1,
        },
        "policy": {"ops": OPS, "n_subpolicies": 2},
    }
    dataset = {"name": "digits", "val_fraction": 0.4, "batch_size": 128}
    trainer = {"name": "dada", "epochs": 1}
    result = search(space, "dada", trainer=trainer, dataset=dataset, estimators=["accuracy"], budget=1, seed=0)
    arch = result.best.arch
    assert set(arch) == {f"policy.s{s}.op0.{what}" for s in range(2) for what in ("op", "magnitude", "prob")} | {
        f"policy.s{s}.op1.{what}" for s in range(2) for what in ("op", "magnitude", "prob")
    }
    policy = AugmentationPolicy(ops=OPS, n_subpolicies=2, in_channels=1)
    policy.save(tmp_path / "policy.json", arch)
    assert load_policy(tmp_path / "policy.json")(torch.rand(4, 1, 8, 8)).shape == (4, 1, 8, 8)
    retrain = {"name": "standalone", "epochs": 1, "augment": str(tmp_path / "policy.json")}
    assert search("digits_cnn", "random", trainer=retrain, dataset=dataset, estimators=["accuracy"], budget=1).best
