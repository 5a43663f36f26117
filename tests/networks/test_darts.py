"""DARTS: the search network against the reference code, genotypes, the evaluation network, every
mutator that applies, and the digits example end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hyperbox.kernel import SearchSpace
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.nas.mutators import DartsMutator, EvolutionMutator, GDASMutator, RandomMutator
from hyperbox.networks.darts import DARTS_V2, PRIMITIVES, DartsEvalNetwork, DartsNetwork, Genotype
from hyperbox.networks.darts.search import NodeInputs

torch.set_num_threads(1)

EXAMPLE = Path(__file__).parents[2] / "examples" / "darts_digits.yaml"


def count(module: torch.nn.Module, exclude: str | None = None) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if exclude is None or exclude not in name)


def edges_by_node(gene: list) -> list[set]:
    """A genotype's edges per node, unordered (``genotype()`` lists them by input, the paper strongest first)."""
    return [set(gene[i : i + 2]) for i in range(0, len(gene), 2)]


def tiny_network(**kwargs) -> DartsNetwork:
    torch.manual_seed(0)
    return DartsNetwork(C=4, layers=3, in_channels=1, stem_multiplier=2, **kwargs)


def test_search_network_has_the_reference_parameter_count() -> None:
    # 1,930,618: quark0/darts cnn/model_search.py Network(C=16, num_classes=10, layers=8) run on CPU
    # (its .cuda() calls removed) in a scratch directory, sum of parameters().numel(); the alphas
    # are not parameters there, and are kept in the mutator here.
    assert count(DartsNetwork(C=16, num_classes=10, layers=8)) == 1_930_618


def test_evaluation_network_of_darts_v2_has_the_reference_parameter_count() -> None:
    # The paper reports 3.3M for DARTS (second order) on CIFAR-10. The reference code,
    # quark0/darts cnn/model.py NetworkCIFAR(36, 10, 20, auxiliary=True, genotypes.DARTS_V2), run on
    # CPU in a scratch directory: utils.count_parameters_in_MB (parameters whose name does not
    # contain "auxiliary") gives 3.349342, i.e. 3,349,342; with the auxiliary head, 3,825,768.
    network = DartsEvalNetwork(DARTS_V2, C=36, layers=20, num_classes=10, auxiliary=True)
    assert count(network, exclude="auxiliary") == 3_349_342
    assert count(network) == 3_825_768


def test_evaluation_network_returns_auxiliary_logits_only_in_training() -> None:
    network = DartsEvalNetwork(DARTS_V2, C=4, layers=5, num_classes=7, drop_path_prob=0.3)
    x = torch.randn(2, 3, 32, 32)
    logits, auxiliary = network.train()(x)
    assert logits.shape == auxiliary.shape == (2, 7)
    logits, auxiliary = network.eval()(x)
    assert logits.shape == (2, 7) and auxiliary is None


def test_unknown_operation_is_an_error_naming_the_edge() -> None:
    genotype = DARTS_V2._replace(normal=[*DARTS_V2.normal[:5], ("conv_9x9", 0), *DARTS_V2.normal[6:]])
    with pytest.raises(ValueError, match=r"normal\.n4_e0.*conv_9x9"):
        DartsEvalNetwork(genotype, C=4, layers=5)
    with pytest.raises(ValueError, match=r"normal\.n4_e0.*conv_9x9"):
        tiny_network().arch_from_genotype(genotype)


def test_genotype_round_trips_through_an_architecture() -> None:
    network = tiny_network()
    arch = network.arch_from_genotype(DARTS_V2)
    genotype = network.genotype(arch)
    assert edges_by_node(genotype.normal) == edges_by_node(DARTS_V2.normal)
    assert edges_by_node(genotype.reduce) == edges_by_node(DARTS_V2.reduce)
    assert genotype.normal_concat == genotype.reduce_concat == [2, 3, 4, 5]
    # Edges the genotype does not keep are `none`; every node keeps two inputs.
    assert arch["normal.n5_e1"] == PRIMITIVES.index("none")
    assert arch["normal.n5_inputs"] == [1, 0, 1, 0, 0]
    # The JSON form is accepted as well (as written in run directories).
    assert network.arch_from_genotype(json.loads(json.dumps(DARTS_V2._asdict()))) == arch


def test_derive_genotype_follows_the_papers_rule() -> None:
    network = tiny_network()
    none, skip, sep3 = (PRIMITIVES.index(name) for name in ("none", "skip_connect", "sep_conv_3x3"))
    probabilities = {key: [1 / 8] * 8 for key in SearchSpace.of(network) if not key.endswith("_inputs")}

    def weigh(key, index, weight):
        probabilities[key] = [weight if k == index else (1 - weight) / 7 for k in range(8)]

    weigh("normal.n4_e0", none, 0.9)  # `none` never counts, however heavy
    weigh("normal.n4_e2", skip, 0.3)
    weigh("normal.n4_e3", sep3, 0.5)
    genotype = network.derive_genotype(probabilities)
    assert genotype.normal[4:6] == [("sep_conv_3x3", 3), ("skip_connect", 2)]  # strongest first
    assert isinstance(genotype, Genotype) and len(genotype.reduce) == 8


def test_supernet_and_subnet_agree_on_random_architectures() -> None:
    network = tiny_network().eval()
    mutator = RandomMutator(network, seed=1)
    x = torch.rand(4, 1, 8, 8)
    for _ in range(4):
        arch = mutator.reset()
        subnet = network.build_subnet()
        torch.testing.assert_close(subnet(x), network(x), atol=1e-5, rtol=0)
        # The subnet keeps only the edges its nodes read: two per node.
        for cell in subnet.cells:
            assert len(cell.edges) == 2 * network.nodes
        assert SearchSpace.of(subnet).describe() == {}
    # `mask=` builds the same architecture.
    fixed = DartsNetwork(C=4, layers=3, in_channels=1, stem_multiplier=2, mask=network.arch)
    assert fixed.arch == SearchSpace.of(network).to_json(arch)


def test_evolution_searches_the_space() -> None:
    network = tiny_network().eval()
    mutator = EvolutionMutator(network, seed=0, population_size=4, sample_size=2)
    x = torch.rand(2, 1, 8, 8)
    for step in range(8):
        arch = mutator.reset()
        assert network(x).shape == (2, 10)
        mutator.observe(SearchSpace.of(network).to_json(arch), {"accuracy": float(step % 3)})


@pytest.mark.parametrize("mutator_class", [DartsMutator, GDASMutator])
def test_differentiable_mutators_train_the_operation_weights(mutator_class) -> None:
    network = tiny_network()
    mutator = mutator_class(network, seed=0)
    optimizer = torch.optim.Adam(mutator.arch_parameters(), lr=0.1)
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = {key: alpha.detach().clone() for key, alpha in mutator.alphas.items()}
    for _ in range(2):
        mutator.reset()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(network(x), y).backward()
        optimizer.step()
    edge_keys = [key for key in mutator.alphas if not key.endswith("_inputs")]
    assert all(not torch.equal(mutator.alphas[key], before[key]) for key in edge_keys)
    genotype = network.derive_genotype(mutator.probabilities())
    assert all(name != "none" for name, _ in genotype.normal + genotype.reduce)
    mutator.fix(network.derive_arch(mutator.probabilities()))  # the paper's derived cell, run discretely
    assert edges_by_node(network.genotype().normal) == edges_by_node(genotype.normal)
    assert network(x).shape == (8, 10)


def test_nodes_sum_all_their_edges_while_mixing() -> None:
    node = NodeInputs(3, 2, key="n")
    node.mixer = lambda: (torch.tensor([0.7, 0.2, 0.1]), (0, 1))  # weights and choice are ignored
    inputs = [torch.full((1,), float(v)) for v in (1, 2, 4)]
    assert node(inputs).item() == 7.0


@pytest.mark.slow
def test_digits_example_searches_and_writes_the_found_architecture(tmp_path) -> None:
    overrides = ["trainer.epochs=1", "budget.trials=1", f"output_dir={tmp_path}"]
    summary = build_search(load_experiment(EXAMPLE, overrides), console=False, progress=False).run().to_json()
    assert summary["status"] == "complete" and summary["complete"] == 1
    directory = Path(summary["directory"])
    arch = json.loads((directory / "best_arch.json").read_text())
    assert (directory / "best_weights.pt").is_file()
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert any(event.get("event") == "darts_derived" for event in events)
    network = DartsNetwork(C=4, layers=3, in_channels=1, stem_multiplier=2)
    assert len(network.genotype(arch).normal) == 8
