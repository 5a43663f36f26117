"""DADA: every relaxed decision gets a gradient, a search step moves all three, and a search ends in a policy."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperbox.ada import AugmentationPolicy, DadaMutator, DadaTrainer, RelaxedPolicy, load_policy
from hyperbox.kernel import ConfigError, search
from hyperbox.kernel.cli import main
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint
from hyperbox.nas.trainers._distributed import Processes
from hyperbox.nas.trainers._training import Training

torch.set_num_threads(1)
OPS = ["rotate", "contrast", "solarize", "invert"]
SLOT_KEYS = ("op", "magnitude", "prob")


def one_process() -> Training:
    processes = Processes(torch.device("cpu"))
    return Training(processes, EpochCheckpoint(None, None, processes))


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
        trainer.policy_step(network, relaxed, weights, w_optimizer, policy_optimizer, train, val, one_process())
        trainer.weight_step(network, relaxed, weights, w_optimizer, train, one_process())
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
    run = tmp_path / "run"
    result = search(space, "dada", trainer=trainer, dataset=dataset, estimators=["accuracy"], budget=3, directory=run)
    arch = result.best.arch
    assert len(result.trials) == 1  # one derived policy, whatever the budget
    assert set(arch) == {f"policy.s{s}.op{j}.{what}" for s in range(2) for j in range(2) for what in SLOT_KEYS}
    assert main(["export", str(run), "-o", str(tmp_path)]) == 0
    assert load_policy(tmp_path / "policy.json")(torch.rand(4, 1, 8, 8)).shape == (4, 1, 8, 8)
    retrain = {"name": "standalone", "epochs": 1, "augment": str(tmp_path / "policy.json")}
    assert search("digits_cnn", "random", trainer=retrain, dataset=dataset, estimators=["accuracy"], budget=1).best


def at_an_edge(relaxed: RelaxedPolicy) -> bool:
    return any(relaxed.probabilities.item() == pytest.approx(edge) for edge in relaxed.probability_range)


def test_a_step_to_the_edge_leaves_probabilities_a_gradient():
    torch.manual_seed(0)
    relaxed = RelaxedPolicy(AugmentationPolicy(ops=["contrast"], n_subpolicies=1, ops_per_subpolicy=1, in_channels=1))
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    weights = list(network.parameters())
    w_optimizer = torch.optim.SGD(weights, lr=0.5)
    policy_optimizer = torch.optim.Adam(relaxed.parameters(), lr=10.0)  # one step crosses the whole range
    batch = (torch.rand(16, 1, 8, 8), torch.randint(10, (16,)))
    for _ in range(5):
        DadaTrainer().policy_step(network, relaxed, weights, w_optimizer, policy_optimizer, batch, batch, one_process())
        if at_an_edge(relaxed):
            break
    assert at_an_edge(relaxed)  # pushed to an edge of its range, which is inside (0, 1)
    relaxed.zero_grad()
    for _ in range(5):  # a few draws of the gates
        network(relaxed(batch[0])).square().mean().backward()
    assert relaxed.probabilities.grad.item() != 0


def test_probabilities_and_magnitudes_stay_within_the_spaces_candidates():
    torch.manual_seed(0)
    relaxed = relaxed_policy(magnitudes=[2, 3], probabilities=[0.2, 0.3])
    assert relaxed.probability_range == (0.2, 0.3) and relaxed.magnitude_range == (0.2, 0.4)
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    weights = list(network.parameters())
    w_optimizer = torch.optim.SGD(weights, lr=0.5)
    policy_optimizer = torch.optim.Adam(relaxed.parameters(), lr=1.0)
    batch = (torch.rand(16, 1, 8, 8), torch.randint(10, (16,)))
    for _ in range(3):
        DadaTrainer().policy_step(network, relaxed, weights, w_optimizer, policy_optimizer, batch, batch, one_process())
    assert relaxed.probabilities.min() >= 0.2 and relaxed.probabilities.max() <= 0.3
    assert relaxed.magnitudes.min() >= 0.2 and relaxed.magnitudes.max() <= 0.4


def test_parameters_a_step_does_not_reach_are_left_alone():
    torch.manual_seed(0)
    relaxed = RelaxedPolicy(AugmentationPolicy(ops=["invert"], n_subpolicies=1, ops_per_subpolicy=1, in_channels=1))
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    weights = list(network.parameters())
    w_optimizer = torch.optim.SGD(weights, lr=0.5)
    policy_optimizer = torch.optim.Adam(relaxed.parameters(), lr=0.1)
    batch = (torch.rand(16, 1, 8, 8), torch.randint(10, (16,)))
    DadaTrainer().policy_step(network, relaxed, weights, w_optimizer, policy_optimizer, batch, batch, one_process())
    assert relaxed.magnitudes.grad is None  # invert has no magnitude
    assert relaxed.magnitudes not in policy_optimizer.state


def test_dada_refuses_a_fixed_augmentation_and_other_trainers():
    space = {"name": "augmented", "network": "digits_cnn", "policy": {"ops": OPS, "n_subpolicies": 1}}
    with pytest.raises(ConfigError, match=r"trainer 'dada'.*augment: the dada trainer augments its training batches"):
        search(space, "dada", trainer={"name": "dada", "augment": "randaugment"}, dataset="digits", budget=1)
    with pytest.raises(ConfigError, match=r"mutator 'dada': proposes the policy that trainer 'dada' derives"):
        search(space, DadaMutator, trainer={"name": "standalone", "epochs": 1}, dataset="digits", budget=1)


class _Stop(BaseException):
    """Stands for a kill between two epochs (not an Exception: nothing handles it as a failed training)."""


class _Context:
    def __init__(self, directory, *, resumed: bool = False, stop_after: int | None = None) -> None:
        self.directory, self.seed, self.resumed, self.device = directory, 0, resumed, "cpu"
        self.stop_after, self.epochs = stop_after, []
        self.log = type("Log", (), {"info": lambda self, *a, **k: None})()
        directory.mkdir(exist_ok=True)

    def state_path(self, name: str):
        return self.directory / name

    def report(self, epoch: int, metrics: dict) -> None:
        self.epochs.append(epoch)
        if epoch == self.stop_after:
            raise _Stop


def dada_search(context) -> tuple[nn.Module, DadaMutator]:
    from hyperbox.ada import AugmentedNetwork
    from hyperbox.nas.datasets import synthetic

    torch.manual_seed(0)
    policy = AugmentationPolicy(ops=OPS, n_subpolicies=1, ops_per_subpolicy=1, in_channels=1)
    model = AugmentedNetwork(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), policy)
    mutator = DadaMutator(model, seed=0)
    data = synthetic(num_samples=96, num_classes=10, input_shape=(1, 8, 8), batch_size=16)
    DadaTrainer(epochs=3, checkpoint_every=1).fit(model, mutator, data, context)
    return model, mutator


def test_a_resumed_dada_search_ends_with_the_uninterrupted_network_and_policy(tmp_path):
    whole, whole_mutator = dada_search(_Context(tmp_path / "whole"))
    with pytest.raises(_Stop):
        dada_search(_Context(tmp_path / "stopped", stop_after=1))
    assert (tmp_path / "stopped" / "dada.last.pt").is_file()  # the last finished epoch's state
    context = _Context(tmp_path / "stopped", resumed=True)
    resumed, resumed_mutator = dada_search(context)
    assert context.epochs == [2]  # it went on after epoch 1, the last one checkpointed
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), whole.state_dict().values()))
    assert resumed_mutator.export() == whole_mutator.export()  # the same derived policy
    assert not (tmp_path / "stopped" / "dada.last.pt").exists()  # the search ended: nothing left to resume
    again = _Context(tmp_path / "whole", resumed=True)  # a finished search resumed: its result loaded, not redone
    loaded, loaded_mutator = dada_search(again)
    assert again.epochs == [] and loaded_mutator.export() == whole_mutator.export()
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), whole.state_dict().values()))
