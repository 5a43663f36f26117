"""NAS-Bench-201: parameter counts against the benchmark's network, architecture strings, mutators."""

from __future__ import annotations

import pytest
import torch

from hyperbox.kernel import SearchSpace
from hyperbox.nas.mutators import DartsMutator, EvolutionMutator, GDASMutator, RandomMutator
from hyperbox.networks.nb201 import OPERATIONS, NB201Network, arch_from_string, arch_to_string

torch.set_num_threads(1)

ALL_CONV_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
RESNET_LIKE = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_network() -> NB201Network:
    torch.manual_seed(0)
    return NB201Network(C=4, N=1, num_classes=10, in_channels=1)


# Reference counts: D-X-Y/AutoDL-Projects xautodl/models/cell_infers/tiny_network.py
# TinyNetwork(C=16, N=5, Structure.str2structure(string), num_classes), run on CPU in a scratch
# directory, sum of parameters().numel(). The all-3x3 cell is the benchmark's largest network:
# 1.53 MB on CIFAR-10, the top of NATS-Bench's topology-space range.
@pytest.mark.parametrize(
    ("arch_string", "num_classes", "params"),
    [
        (ALL_CONV_3X3, 10, 1_531_546),
        (ALL_CONV_3X3, 100, 1_537_396),
        (RESNET_LIKE, 10, 316_346),
        (MIXED, 10, 802_426),
    ],
)
def test_subnets_have_the_benchmarks_parameter_counts(arch_string, num_classes, params) -> None:
    network = NB201Network(C=16, N=5, num_classes=num_classes)
    assert count(network.build_subnet(arch_from_string(arch_string))) == params


def test_strings_round_trip() -> None:
    for arch_string in (ALL_CONV_3X3, RESNET_LIKE, MIXED):
        assert arch_to_string(arch_from_string(arch_string)) == arch_string
    arch = arch_from_string(MIXED)
    assert arch == {"n1_e0": 3, "n2_e0": 3, "n2_e1": 4, "n3_e0": 1, "n3_e1": 3, "n3_e2": 1}
    network = NB201Network(C=4, N=1, mask=MIXED)
    assert network.arch_string() == MIXED


@pytest.mark.parametrize(
    ("arch_string", "message"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_5x5~0|avg_pool_3x3~1|+|none~0|none~1|none~2|", r"'n2_e0'.*nor_conv_5x5"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", r"missing edge.*n2_e1"),
        ("|nor_conv_3x3~0|+|none~0|none~0|+|none~0|none~1|none~2|", r"'n2_e0'.*twice"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", r"node 1"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", r"2 nodes"),
    ],
)
def test_bad_strings_name_the_edge(arch_string, message) -> None:
    with pytest.raises(ValueError, match=message):
        arch_from_string(arch_string)


def test_supernet_and_subnet_agree_on_random_architectures() -> None:
    network = tiny_network().eval()
    mutator = RandomMutator(network, seed=3)
    x = torch.rand(3, 1, 8, 8)
    for _ in range(5):
        mutator.reset()
        torch.testing.assert_close(network.build_subnet()(x), network(x), atol=1e-5, rtol=0)


def test_evolution_searches_the_space() -> None:
    network = tiny_network().eval()
    mutator = EvolutionMutator(network, seed=0, population_size=4, sample_size=2)
    x = torch.rand(2, 1, 8, 8)
    for step in range(8):
        arch = mutator.reset()
        assert network(x).shape == (2, 10)
        mutator.observe(SearchSpace.of(network).to_json(arch), {"accuracy": float(step)})


@pytest.mark.parametrize("mutator_class", [DartsMutator, GDASMutator])
def test_differentiable_mutators_train_every_edge(mutator_class) -> None:
    network = tiny_network()
    mutator = mutator_class(network, seed=0)
    assert sorted(mutator.alphas) == ["n1_e0", "n2_e0", "n2_e1", "n3_e0", "n3_e1", "n3_e2"]
    optimizer = torch.optim.Adam(mutator.arch_parameters(), lr=0.1)
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = [alpha.detach().clone() for alpha in mutator.arch_parameters()]
    for _ in range(2):
        mutator.reset()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(network(x), y).backward()
        optimizer.step()
    assert all(not torch.equal(a, b) for a, b in zip(mutator.arch_parameters(), before))
    arch = mutator.fix()
    assert len(arch_to_string(arch).split("~")) == 7  # six edges, each with one of OPERATIONS
    assert all(0 <= decision < len(OPERATIONS) for decision in arch.values())
