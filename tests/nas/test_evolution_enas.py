"""Aging evolution (+ NSGA-II, constraints) and the ENAS controller."""

from __future__ import annotations

import functools
import io
import itertools
import math
import random
import statistics
import warnings

import pytest
import torch

from hyperbox.kernel.space import Categorical, FloatRange, IntRange, SearchSpace, Subset
from hyperbox.kernel.testing import MutatorTestCase, ToyMutable, ToySpace
from hyperbox.nas.mutators import ENASMutator, EvolutionMutator
from hyperbox.nas.mutators._enas import range_grid
from hyperbox.nas.mutators._evolution import crowding_distances, non_dominated_fronts


def categorical_space(keys: int = 8, candidates: int = 4) -> ToySpace:
    return ToySpace([ToyMutable(f"k{i}", Categorical(candidates)) for i in range(keys)])


def count_of_twos(arch) -> dict:
    return {"accuracy": float(sum(decision == 2 for decision in arch.values()))}


# -- evolution -----------------------------------------------------------------------------


class TestEvolutionConformance(MutatorTestCase):
    mutator_factory = functools.partial(EvolutionMutator, population_size=4, sample_size=2, crossover_prob=0.5)


class TestEvolutionNSGA2Conformance(MutatorTestCase):
    mutator_factory = functools.partial(EvolutionMutator, population_size=4, sample_size=2, selection="nsga2")


def best_within(trials: int, seed: int, evolve: bool) -> float:
    space = categorical_space()
    if not evolve:
        rng, search_space = random.Random(seed), SearchSpace.of(space)
        return max(count_of_twos(search_space.sample(rng))["accuracy"] for _ in range(trials))
    mutator = EvolutionMutator(space, seed=seed, population_size=10, sample_size=3)
    best = 0.0
    for _ in range(trials):
        arch = mutator.reset()
        metrics = count_of_twos(arch)
        best = max(best, metrics["accuracy"])
        mutator.observe(mutator.space.to_json(arch), metrics)
    return best


def test_aging_evolution_beats_random_search():
    seeds = range(5)
    evolution = statistics.mean(best_within(80, seed, evolve=True) for seed in seeds)
    random_search = statistics.mean(best_within(80, seed, evolve=False) for seed in seeds)
    assert evolution > random_search + 1, (evolution, random_search)


def test_constraints_are_never_violated():
    calls = []

    def cost(model, arch):
        calls.append(arch)
        return {"cost": float(sum(arch.values()))}

    mutator = EvolutionMutator(
        categorical_space(), seed=0, population_size=5, sample_size=2, constraints={"cost": 6}, constraint_fn=cost
    )
    for _ in range(40):
        arch = mutator.reset()
        assert sum(arch.values()) <= 6
        mutator.observe(mutator.space.to_json(arch), count_of_twos(arch))
    assert len(calls) > 40, "some candidates should have been rejected and resampled"


def test_unsatisfiable_constraints_raise_a_clear_error():
    mutator = EvolutionMutator(
        categorical_space(), seed=0, constraints={"cost": -1}, constraint_fn=lambda m, a: {"cost": 0.0}, max_attempts=5
    )
    with pytest.raises(RuntimeError, match="no architecture within the constraints"):
        mutator.reset()
    missing = EvolutionMutator(categorical_space(), seed=0, constraints={"flops": 1}, constraint_fn=lambda m, a: {})
    with pytest.raises(ValueError, match="flops"):
        missing.reset()


def test_non_dominated_fronts_and_crowding():
    values = [(4, 1), (3, 3), (1, 4), (2, 2), (1, 1), (3, 0.5)]
    assert non_dominated_fronts(values) == [[0, 1, 2], [3, 5], [4]]
    line = [(0, 10), (1, 9), (5, 5), (9, 1), (10, 0)]
    crowding = crowding_distances(line, range(5))
    assert crowding[0] == crowding[4] == math.inf
    assert crowding[2] == pytest.approx(1.6)
    assert crowding[1] == crowding[3] == pytest.approx(1.0)
    assert sorted(range(5), key=lambda i: -crowding[i])[2] == 2


def test_nsga2_survival_respects_directions():
    mutator = EvolutionMutator(categorical_space(keys=2), seed=0, population_size=3)
    mutator.set_objectives(["accuracy", "params"], ["maximize", "minimize"])
    members = [
        ({"k0": 0, "k1": 0}, {"accuracy": 0.9, "params": 10}),
        ({"k0": 1, "k1": 0}, {"accuracy": 0.8, "params": 5}),
        ({"k0": 2, "k1": 0}, {"accuracy": 0.7, "params": 20}),  # dominated by the first
        ({"k0": 3, "k1": 0}, {"accuracy": 0.95, "params": 30}),
    ]
    for arch, metrics in members:
        mutator.observe(arch, metrics)
    assert [arch["k0"] for arch, _ in mutator.population] == [0, 1, 3]
    assert mutator.export() == {"k0": 3, "k1": 0}  # best by the first objective


def test_population_ages_out_even_the_best():
    mutator = EvolutionMutator(categorical_space(keys=1), seed=0, population_size=3)
    for index, score in enumerate([9.0, 1.0, 2.0, 3.0]):
        mutator.observe({"k0": index}, {"accuracy": score})
    assert [arch["k0"] for arch, _ in mutator.population] == [1, 2, 3]
    assert mutator.sample_final() == {"k0": 0}  # still exported: best observed


def test_asks_ahead_of_results_and_tracks_pending():
    mutator = EvolutionMutator(categorical_space(), seed=0, population_size=2, warmup=2)
    asked = [mutator.reset() for _ in range(5)]  # past warmup with nothing observed: still answers
    assert sum(mutator.pending.values()) == 5
    mutator.observe(mutator.space.to_json(asked[0]), count_of_twos(asked[0]))
    assert sum(mutator.pending.values()) == 4
    assert len(mutator.population) == 1


def test_children_are_local_mutations_of_the_population():
    space = ToySpace([ToyMutable("depth", IntRange(0, 100)), ToyMutable("lr", FloatRange(1e-4, 1.0, log=True))])
    mutator = EvolutionMutator(space, seed=0, population_size=1, warmup=0, mutation_prob=1.0, crossover_prob=0.0)
    mutator.observe({"depth": 50, "lr": 1e-2}, {"accuracy": 1.0})
    for _ in range(20):
        child = mutator.sample_search()
        assert child["depth"] != 50 and abs(child["depth"] - 50) <= 50
        assert 1e-4 <= child["lr"] <= 1.0 and child["lr"] != 1e-2


# -- ENAS ----------------------------------------------------------------------------------


class TestENASConformance(MutatorTestCase):
    mutator_factory = ENASMutator


def test_controller_learns_a_rewarded_candidate():
    mutator = ENASMutator(categorical_space(keys=1), seed=0, lr=0.05, baseline_decay=0.9)
    favoured = {"k0": 2}
    before = math.exp(mutator.log_prob(favoured)[0].item())
    for _ in range(40):
        arch = mutator.reset()
        mutator.observe(arch, {"accuracy": float(arch["k0"] == 2)})
    after = math.exp(mutator.log_prob(favoured)[0].item())
    assert after > before + 0.2, (before, after)
    assert mutator.export() == favoured


@pytest.mark.parametrize("domain", [Subset(4, 2), Subset(3)])
def test_subset_probabilities_are_exact(domain):
    mutator = ENASMutator(ToySpace([ToyMutable("s", domain)]), seed=0, tanh_constant=None)
    sets = [c for r in range(1, 5) for c in itertools.combinations(range(domain.n), r) if domain.k in (None, r)]
    probabilities = {s: math.exp(mutator.log_prob({"s": list(s)})[0].item()) for s in sets}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    # the sampler follows the same distribution (with skewed logits, set by hand)
    logits = torch.tensor([2.0, 0.0, -1.0, 1.0][: domain.n])
    sample = mutator._fixed_subset if domain.k else mutator._free_subset
    args = (logits, domain.k) if domain.k else (logits,)
    draws = [tuple(int(i) for i in sample(*args, None)[0].nonzero().view(-1)) for _ in range(1000)]
    for chosen in sets:
        mask = torch.tensor([float(i in chosen) for i in range(domain.n)])
        expected = sample(*args, mask)[1].exp().item()
        assert draws.count(chosen) / len(draws) == pytest.approx(expected, abs=0.05)


def test_log_prob_and_entropy_are_finite():
    mutator = ENASMutator(TestENASConformance().create_space(), seed=1)
    for _ in range(5):
        arch = mutator.reset()
        log_prob, entropy = mutator.log_prob(mutator.space.to_json(arch))
        assert math.isfinite(log_prob.item()) and log_prob.item() < 0
        assert math.isfinite(entropy.item()) and entropy.item() > 0
        log_prob.backward()
        assert all(torch.isfinite(p.grad).all() for p in mutator.controller.parameters() if p.grad is not None)


def test_replay_reproduces_the_controller_and_state_dict_saves_it():
    def fresh():
        return ENASMutator(TestENASConformance().create_space(), seed=7, lr=0.01)

    reference, history = fresh(), []
    for _ in range(6):
        arch = reference.space.to_json(reference.reset())
        metrics = {"accuracy": random.Random(str(arch)).random()}
        reference.observe(arch, metrics)
        history.append((arch, metrics, "complete"))
    resumed = fresh()
    resumed.restore(history)
    for name, tensor in reference.controller.state_dict().items():
        assert torch.equal(tensor, resumed.controller.state_dict()[name]), name
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    buffer.seek(0)
    loaded = fresh()
    loaded.load_state_dict(torch.load(buffer, weights_only=False))
    assert [loaded.sample_search() for _ in range(3)] == [reference.sample_search() for _ in range(3)]


def test_ranges_are_searched_on_a_grid():
    assert range_grid(IntRange(1, 9, step=2), 10) == [1, 3, 5, 7, 9]
    grid = range_grid(IntRange(0, 100), 5)
    assert grid == [0, 25, 50, 75, 100]
    log_grid = range_grid(FloatRange(1e-4, 1e-1, log=True), 4)
    assert log_grid == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    space = ToySpace([ToyMutable("lr", FloatRange(1e-4, 1e-1, log=True))])
    mutator = ENASMutator(space, seed=0, range_bins=4)
    assert mutator.reset()["lr"] in log_grid
    mutator.observe({"lr": 2e-3}, {"accuracy": 1.0})  # off the grid: scored as its nearest value


def test_default_cost_estimates_keep_real_subnets_under_the_limits():
    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.estimators import FlopsEstimator, ParamsEstimator
    from hyperbox.nas.subnet import build_subnet

    space = DigitsCNNSpace()
    limits = {"params": 40_000, "flops": 1_500_000}
    mutator = EvolutionMutator(space, seed=0, population_size=4, constraints=limits, input_shape=(1, 8, 8))
    for _ in range(6):
        arch = mutator.reset()
        subnet = build_subnet(space, arch)
        assert ParamsEstimator()(subnet)["params"] <= limits["params"]
        assert FlopsEstimator(input_shape=(1, 8, 8))(subnet)["flops"] <= limits["flops"]
        mutator.observe(mutator.space.to_json(arch), {"accuracy": 0.5})


def test_an_evolution_that_cannot_evolve_within_the_budget_says_so():
    from hyperbox.kernel import Search, SearchWarning

    space = ToySpace([ToyMutable("op", Categorical(12))])  # more architectures than the budget
    with pytest.warns(SearchWarning, match=r"^evolution: its warm-up of 20 random architectures .* budget of 6 trials"):
        Search(space, "evolution", objective=lambda trial: 1.0, budget=6).run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SearchWarning)
        Search(space, {"name": "evolution", "population_size": 3}, objective=lambda trial: 1.0, budget=6).run()
