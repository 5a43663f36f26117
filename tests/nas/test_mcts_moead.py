"""Monte-Carlo tree search and MOEA/D: they search better than random, keep to the space's
conditional decisions, and resume where they stopped (the conformance suites are in
test_conformance.py)."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
import warnings

import pytest

from hyperbox.kernel import ConfigError, Search, search
from hyperbox.kernel.engine import SearchWarning
from hyperbox.kernel.space import Categorical, FloatRange, IntRange, SearchSpace, Subset, default_decision
from hyperbox.kernel.testing import ToyMutable, ToySpace
from hyperbox.nas.hyper import Choice, Dense, HyperSpace, Repeat, Sequential
from hyperbox.nas.mutators import MCTSMutator, MOEADMutator
from hyperbox.nas.mutators._moead import weight_vectors
from hyperbox.networks.hypernets import dnn_search_space


def grid_space(keys: int = 4, candidates: int = 3) -> ToySpace:
    return ToySpace([ToyMutable(f"k{i}", Categorical(candidates)) for i in range(keys)])


def seeded_table(seed: int, keys: int = 4, candidates: int = 3):
    """A synthetic objective over grid_space (gains per decision, and interactions of neighbours)."""
    rng = random.Random(seed)
    gains = [[rng.random() for _ in range(candidates)] for _ in range(keys)]
    pairs = [[[rng.uniform(-0.3, 0.3) for _ in range(candidates)] for _ in range(candidates)] for _ in range(keys - 1)]

    def value(arch) -> float:
        ops = [arch[f"k{i}"] for i in range(keys)]
        return sum(g[o] for g, o in zip(gains, ops)) + sum(p[a][b] for p, a, b in zip(pairs, ops, ops[1:]))

    return value


def optimum(value, keys: int = 4, candidates: int = 3) -> float:
    return max(
        value({f"k{i}": o for i, o in enumerate(ops)}) for ops in itertools.product(range(candidates), repeat=keys)
    )


def identity(space, arch) -> str:
    return json.dumps(space.to_json(space.active_only(arch)), sort_keys=True)


def conditional_space() -> ToySpace:
    """``extra`` matters only at depth 1 (and is listed first: the space puts it after depth)."""
    extra = ToyMutable("extra", Categorical(4))
    extra.conditions = (("depth", frozenset({1})),)
    return ToySpace([extra, ToyMutable("depth", Categorical(3)), ToyMutable("op", Categorical(2))])


# -- mcts --------------------------------------------------------------------------------------


def test_mcts_finds_the_optimum_more_often_than_random_search():
    hits = {"random": 0, "mcts": 0}
    for seed in range(20):
        value = seeded_table(seed)
        for name in hits:
            result = search(grid_space(), name, objective=lambda trial: value(trial.arch), budget=25, seed=seed)
            hits[name] += math.isclose(result.best.metrics["accuracy"], optimum(value))
    assert hits["mcts"] >= hits["random"] + 5, hits


def test_mcts_proposes_every_architecture_of_a_small_space_once_even_with_open_trials():
    space = ToySpace(
        [ToyMutable("a", Categorical(3)), ToyMutable("b", Categorical(2)), ToyMutable("c", IntRange(0, 2))]
    )
    mutator = MCTSMutator(space, seed=0)
    proposals = []
    for _ in range(3):  # six trials out at once, then their results
        asked = [mutator.space.to_json(mutator.reset()) for _ in range(6)]
        for arch in asked:
            mutator.observe(arch, {"accuracy": arch["a"] + arch["b"] - arch["c"]})
        proposals += asked
    assert len({json.dumps(a, sort_keys=True) for a in proposals}) == 18
    assert mutator.root.closed  # every branch explored: what follows is random
    assert set(mutator.reset()) == {"a", "b", "c"}


def small_space() -> ToySpace:
    """18 architectures."""
    return ToySpace([ToyMutable("a", Categorical(3)), ToyMutable("b", Categorical(2)), ToyMutable("c", IntRange(0, 2))])


def small_value(arch) -> float:
    return arch["a"] + arch["b"] - arch["c"]


def interleaved_history(mutator, rounds: int, failing: int | None = None) -> list:
    """``rounds`` times: three proposals out at once, then their results in reverse order (the
    ``failing``-th result of all a failure); the ``(arch, metrics, state)`` of each, as told."""
    history = []
    for _ in range(rounds):
        for arch in reversed([mutator.space.to_json(mutator.reset()) for _ in range(3)]):
            if len(history) == failing:
                mutator.discard(arch, "failed")
                history.append((arch, {}, "failed"))
            else:
                metrics = {"accuracy": small_value(arch)}
                mutator.observe(arch, metrics)
                history.append((arch, metrics, "complete"))
    return history


def tree(node):
    yield node
    for child in (node.children or {}).values():
        yield from tree(child)


def test_a_restored_mcts_keeps_nothing_open_from_an_interleaved_history():
    """Replaying trials that were out three at a time proposes other architectures than those
    recorded: the replay forgets them (no virtual loss left, no leaf closed unevaluated), and the
    resumed search proposes every architecture not evaluated yet, once each. (Restored from a
    sequential history, it proposes what an uninterrupted search does: the conformance suite.)"""
    history = interleaved_history(MCTSMutator(small_space(), seed=0), rounds=3)
    mutator = MCTSMutator(small_space(), seed=0)
    mutator.restore(history)
    assert all(not node.pending for node in tree(mutator.root))
    evaluated = {json.dumps(arch, sort_keys=True) for arch, _, _ in history}
    leaves = [node for node in tree(mutator.root) if node.position == len(mutator.keys)]
    assert all(node.results for node in leaves if node.closed)
    proposals = []
    for _ in range(18 - len(evaluated)):
        arch = mutator.space.to_json(mutator.reset())
        proposals.append(json.dumps(arch, sort_keys=True))
        mutator.observe(arch, {"accuracy": small_value(arch)})
    assert len(set(proposals)) == len(proposals) and not set(proposals) & evaluated
    assert mutator.root.closed


def test_a_resumed_mcts_search_of_interleaved_trials_proposes_each_architecture_once(tmp_path):
    study = Search(small_space(), "mcts", budget=9, seed=0, directory=tmp_path / "run", dedup=False)
    while trials := [t for t in (study.ask() for _ in range(3)) if t is not None]:
        for trial in reversed(trials):
            study.tell(trial, small_value(trial.arch))
    study.close()
    resumed = search(
        small_space(),
        "mcts",
        objective=lambda t: small_value(t.arch),
        budget=18,
        seed=0,
        directory=tmp_path / "run",
        resume=True,
        dedup=False,
    )
    assert len({json.dumps(t.arch, sort_keys=True) for t in resumed.trials}) == 18


def test_mcts_never_repeats_an_evaluated_architecture_under_dedup():
    value = seeded_table(3)
    result = search(grid_space(), "mcts", objective=lambda trial: value(trial.arch), budget=60, seed=3)
    assert len(result.trials) == 60 and all(not trial.skipped for trial in result.trials)


def test_mcts_branches_a_real_range_into_max_node_space_values_one_per_slice():
    space = ToySpace([ToyMutable("lr", FloatRange(1e-4, 1.0, log=True)), ToyMutable("op", Categorical(2))])
    mutator = MCTSMutator(space, seed=1, max_node_space=4)
    values = set()
    for _ in range(8):  # 4 values of lr, 2 of op: the tree holds 8 architectures
        arch = mutator.reset()
        values.add(arch["lr"])
        mutator.observe(arch, {"accuracy": -abs(math.log10(arch["lr"]) + 2)})
    assert sorted(math.floor(-math.log10(v)) for v in values) == [0, 1, 2, 3]  # one per decade
    assert mutator.root.closed


def test_mcts_subsets_and_wide_integer_ranges_branch_into_distinct_values():
    space = ToySpace([ToyMutable("width", IntRange(1, 1000)), ToyMutable("inputs", Subset(6))])
    mutator = MCTSMutator(space, seed=2, max_node_space=5)
    widths = set()
    for _ in range(20):  # fewer than the tree's 25 architectures: every width comes from it
        arch = mutator.reset()
        widths.add(arch["width"])
        mutator.observe(arch, {"accuracy": -abs(arch["width"] - 500) - len(arch["inputs"])})
    assert len(widths) == 5 and all(200 * i < w <= 200 * (i + 1) for i, w in enumerate(sorted(widths)))


# -- conditional decisions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mcts", "moead"])
def test_inactive_decisions_are_left_at_their_default(name):
    mutator = {"mcts": MCTSMutator, "moead": MOEADMutator}[name](conditional_space(), seed=0)
    assert list(mutator.space) == ["depth", "extra", "op"]
    for _ in range(30):
        arch = mutator.reset()
        if arch["depth"] != 1:
            assert arch["extra"] == 0, arch
        mutator.observe(mutator.space.to_json(arch), {"accuracy": float(arch["depth"] == 1 and arch["extra"] == 3)})


def test_mcts_tells_architectures_apart_by_their_active_decisions_only():
    mutator = MCTSMutator(conditional_space(), seed=4)
    seen = []
    for _ in range(12):  # depth 0 and 2 with either op, depth 1 with each extra and op
        arch = mutator.reset()
        seen.append(identity(mutator.space, arch))
        mutator.observe(mutator.space.to_json(arch), {"accuracy": float(arch["op"])})
    assert len(set(seen)) == 12 and mutator.root.closed


def depth_space() -> HyperSpace:
    """Hypernets-style: one to three Dense layers of 4 or 8 units; the width of a layer beyond the
    depth is inactive (14 architectures, 24 assignments of the four keys)."""
    layers = Repeat(lambda step: Dense(Choice([4, 8])), [1, 2, 3], hp_repeat=Choice([1, 2, 3], key="depth"))
    return HyperSpace(Sequential([layers]), input_shape=5)


def widths(values) -> list[int]:
    return [value for key, value in values.items() if key != "depth"]


def check_active_only(space, trials) -> None:
    """Each trial's values hold its active decisions only, its architecture has the inactive ones
    at their default, and no two trials are the same architecture."""
    space = SearchSpace.of(space)
    for trial in trials:
        active = space.active(trial.arch)
        assert list(trial.values) == active, trial.values
        assert all(trial.arch[key] == default_decision(space[key]) for key in space if key not in active)
    assert len({json.dumps(t.values, sort_keys=True) for t in trials}) == len(trials)


def test_mcts_searches_a_hypernets_space_whose_depth_makes_decisions_inactive():
    for seed in range(3):
        result = search(
            depth_space(),
            "mcts",
            objective=lambda t: sum(widths(t.values)) / 8 - 0.3 * len(widths(t.values)),
            budget=14,
            seed=seed,
            dedup=False,  # the tree itself never proposes one twice
        )
        check_active_only(depth_space(), result.trials)
        assert all(len(t.values) == 1 + t.values["depth"] for t in result.trials)
        assert len(result.trials) == 14  # the whole space, once each
        assert result.best.values == {"depth": 3, "Dense_1.units": 8, "Dense_2.units": 8, "Dense_3.units": 8}


def test_moead_searches_a_hypernets_space_whose_depth_makes_decisions_inactive_for_two_objectives():
    def objective(trial):  # wide layers are accurate and expensive: a tuple, one value per objective
        units = widths(trial.values)
        return sum(units) / 8 - 0.3 * len(units), float(sum(units))

    arguments = {"objectives": ["accuracy", "cost"], "directions": ["maximize", "minimize"]}
    for seed in range(3):
        result = search(
            depth_space(), {"name": "moead", "divisions": 3}, objective=objective, budget=10, seed=seed, **arguments
        )
        assert len(result.trials) == 10
        check_active_only(depth_space(), result.trials)
        assert all(len(t.values) == 1 + t.values["depth"] for t in result.trials)
        points = [(t.metrics["accuracy"], -t.metrics["cost"]) for t in result.trials]
        front = [(t.metrics["accuracy"], -t.metrics["cost"]) for t in result.pareto_front]
        assert len(front) >= 2  # the objectives conflict
        assert not any(p != q and p[0] >= q[0] and p[1] >= q[1] for p in points for q in front)


@pytest.mark.parametrize("name", ["mcts", "moead"])
def test_the_hypernets_dnn_space_is_searched_end_to_end(name):
    """The registered space's own decisions, with two objectives (a dict) for moead."""

    def objective(trial):
        v = trial.values
        accuracy = v["units"] / 8 + (v["activation"] == "relu") - v["dropout"] + 0.1 * v["use_bn"] + v["layers"] / 4
        return {"accuracy": accuracy, "params": float(v["units"] * v["layers"])}

    two = {"objectives": ["accuracy", "params"], "directions": ["maximize", "minimize"]}
    space = dnn_search_space(10, 2, units_choices=(4, 8))
    result = search(space, name, objective=objective, budget=20, seed=0, **(two if name == "moead" else {}))
    assert len(result.trials) == 20
    check_active_only(space, result.trials)
    assert {"layers", "units", "activation", "use_bn", "dropout"} <= set(result.trials[0].values)
    assert result.best.metrics["accuracy"] > statistics.mean(t.metrics["accuracy"] for t in result.trials)


def test_foreign_architectures_with_inactive_decisions_are_taken():
    """Another worker's architecture may set an inactive key: it is the canonical one."""
    for factory in (MCTSMutator, MOEADMutator):
        mutator = factory(conditional_space(), seed=0)
        mutator.observe({"depth": 0, "extra": 3, "op": 1}, {"accuracy": 1.0})
        mutator.discard({"depth": 2, "extra": 2, "op": 0}, "failed")
        assert mutator.sample_final() == {"depth": 0, "extra": 0, "op": 1}


# -- moead -------------------------------------------------------------------------------------


def trade_off(seed: int, keys: int = 8):
    """A seeded bi-objective over grid_space(keys, 4): each candidate's cost is half its gain,
    half chance."""
    rng = random.Random(seed)
    gains = [[rng.random() for _ in range(4)] for _ in range(keys)]
    costs = [[0.5 * g + 0.5 * rng.random() for g in row] for row in gains]

    def objective(trial):
        ops = [trial.arch[f"k{i}"] for i in range(keys)]
        return {
            "accuracy": sum(g[o] for g, o in zip(gains, ops)),
            "cost": sum(c[o] for c, o in zip(costs, ops)),
        }

    return objective


def hypervolume(front, reference) -> float:
    """The area ``front`` ((accuracy, cost) pairs) dominates up to ``reference``."""
    area, ceiling = 0.0, reference[1]
    ordered = sorted(front, key=lambda p: -p[0])  # best accuracy first
    for (accuracy, cost), (following, _) in zip(ordered, [*ordered[1:], (reference[0], 0.0)]):
        ceiling = min(ceiling, cost)
        area += (accuracy - following) * (reference[1] - ceiling)
    return area


@pytest.mark.parametrize("decomposition", ["tchebicheff", "weighted_sum", "pbi"])
def test_moead_pareto_front_dominates_more_than_random_searchs_at_the_same_budget(decomposition):
    arguments = {"objectives": ["accuracy", "cost"], "directions": ["maximize", "minimize"], "budget": 80}
    mutators = {"random": "random", "moead": {"name": "moead", "decomposition": decomposition}}
    ratios = []
    for seed in range(4):
        fronts = {
            name: [
                (t.metrics["accuracy"], t.metrics["cost"])
                for t in search(
                    grid_space(8, 4), mutator, objective=trade_off(seed), seed=seed, **arguments
                ).pareto_front
            ]
            for name, mutator in mutators.items()
        }
        points = [p for front in fronts.values() for p in front]
        reference = (min(a for a, _ in points), max(c for _, c in points))
        ratios.append(hypervolume(fronts["moead"], reference) / hypervolume(fronts["random"], reference))
    assert statistics.mean(ratios) > 1.1, ratios


def test_moead_with_one_objective_beats_random_search():
    best = {"random": [], "moead": []}
    for seed in range(6):
        value = seeded_table(seed, keys=8, candidates=4)
        for name in best:
            result = search(grid_space(8, 4), name, objective=lambda t: value(t.arch), budget=60, seed=seed)
            best[name].append(result.best.metrics["accuracy"])
    assert statistics.mean(best["moead"]) > statistics.mean(best["random"]) + 0.2, best


def test_weight_vectors_spread_evenly_over_the_simplex():
    assert weight_vectors(4, 2) == [(0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)]
    three = weight_vectors(5, 3)
    assert len(three) == math.comb(7, 2) and len(set(three)) == len(three)
    assert all(math.isclose(sum(w), 1.0) and min(w) >= 0 for w in three)


def test_moead_population_and_neighbourhoods_follow_the_objectives():
    mutator = MOEADMutator(grid_space(), seed=0, divisions=4, n_neighbors=3)
    assert mutator.population_size == 5  # one objective: divisions + 1 members
    assert mutator.neighbours[0] == [0, 1, 2] and mutator.neighbours[2] == [2, 1, 3]
    mutator.set_objectives(["accuracy", "cost", "latency"], ["maximize", "minimize", "minimize"])
    assert mutator.population_size == math.comb(6, 2)
    assert all(len(n) == 3 and n[0] == i for i, n in enumerate(mutator.neighbours))


def test_moead_asks_for_children_with_trials_still_open():
    study = Search(grid_space(6, 4), {"name": "moead", "divisions": 2}, budget=30, seed=0)
    value = seeded_table(0, keys=6, candidates=4)
    told = 0
    while told < 30:
        trials = [trial for trial in (study.ask() for _ in range(4)) if trial is not None]
        for trial in trials:
            study.tell(trial, value(trial.arch))
        told += len(trials)
    assert len(study.close().trials) == 30


def test_a_restored_moead_keeps_nothing_open_from_an_interleaved_history():
    """As for mcts: the replayed asks that no recorded result answered are forgotten (neither
    pending nor known), and the resumed search asks and learns as usual."""
    history = interleaved_history(MOEADMutator(small_space(), seed=1, divisions=2), rounds=4, failing=4)
    mutator = MOEADMutator(small_space(), seed=1, divisions=2)
    mutator.restore(history)
    assert mutator.pending == {}
    assert mutator._known == {json.dumps(arch, sort_keys=True) for arch, _, _ in history}
    assert None not in mutator.members
    for _ in range(5):
        asked = [mutator.space.to_json(mutator.reset()) for _ in range(2)]
        assert sum(map(len, mutator.pending.values())) == 2
        for arch in asked:
            mutator.observe(arch, {"accuracy": small_value(arch)})
        assert mutator.pending == {}


def members_held(mutator) -> list[int]:
    """How many sub-problems each distinct member holds."""
    texts = [json.dumps(member[0], sort_keys=True) for member in mutator.members]
    return [texts.count(text) for text in set(texts)]


def test_moead_child_replaces_at_most_max_replacements_members():
    for cap, held in ((2, [2, 1]), (3, [3])):
        mutator = MOEADMutator(grid_space(), seed=0, divisions=2, max_replacements=cap)  # 3 members, one neighbourhood
        for ops in ((0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 2)):
            mutator.observe({f"k{i}": op for i, op in enumerate(ops)}, {"accuracy": 0.0})
        child = {"k0": 0, "k1": 1, "k2": 2, "k3": 0}
        mutator.observe(child, {"accuracy": 1.0})  # better than all three
        mutator.observe(child, {"accuracy": 1.0})  # held already: takes no more
        assert sorted(members_held(mutator), reverse=True) == held  # uncapped, it takes them all


@pytest.mark.parametrize("objectives", [1, 2])
def test_moead_population_stays_diverse(objectives):
    """Each architecture holds at most max_replacements (2) sub-problems all along a search, so at
    least half of the members are distinct; with 1, every member is."""
    arguments = {"objectives": ["accuracy", "cost"], "directions": ["maximize", "minimize"]} if objectives == 2 else {}
    for cap in (2, 1):
        for seed in range(3):
            study = Search(
                grid_space(8, 4), {"name": "moead", "max_replacements": cap}, budget=80, seed=seed, **arguments
            )
            objective = trade_off(seed)
            while (trial := study.ask()) is not None:
                study.tell(trial, objective(trial) if objectives == 2 else objective(trial)["accuracy"])
                if None not in study.mutator.members:
                    assert max(members_held(study.mutator)) <= cap
            held = members_held(study.mutator)
            assert len(held) >= study.mutator.population_size / cap, held
            study.close()


def test_moead_warns_when_its_population_fills_the_budget():
    with pytest.warns(SearchWarning, match=r"^moead: its initial population of 6 random architectures"):
        search(grid_space(), "moead", objective=lambda t: 0.0, budget=5)


# -- both --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutator", "message"),
    [
        ({"name": "mcts", "exploration": -1}, "exploration must be a finite number >= 0, got -1"),
        ({"name": "mcts", "max_node_space": 0}, "max_node_space must be an integer >= 1, got 0"),
        ({"name": "moead", "divisions": 0}, "divisions must be an integer >= 1, got 0"),
        ({"name": "moead", "n_neighbors": 9}, r"n_neighbors must be an integer from 2 to divisions \+ 1 = 6, got 9"),
        ({"name": "moead", "decomposition": "pareto"}, "decomposition must be one of tchebicheff, weighted_sum, pbi"),
        ({"name": "moead", "penalty": -0.5}, "penalty must be a finite number >= 0, got -0.5"),
        ({"name": "moead", "mutation_prob": 1.5}, r"mutation_prob must be a probability in \[0, 1\], got 1.5"),
        ({"name": "moead", "max_replacements": 0}, "max_replacements must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_them(mutator, message):
    with pytest.raises(ConfigError, match=f"^mutator '{mutator['name']}': {message}") as error:
        search(grid_space(), mutator, objective=lambda t: 0.0, budget=2)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("mutator", "keys"), [("mcts", 3), ("moead", 2)])
def test_a_resumed_search_proposes_what_an_uninterrupted_one_does(mutator, keys, tmp_path):
    """In moead's small space its random population repeats architectures: the skipped proposals
    (dedup) are replayed on resume too."""
    value = seeded_table(5, keys=keys, candidates=3)
    arguments = {"objective": lambda t: value(t.arch), "seed": 5}
    budget = min(20, 3**keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)  # moead's population against the first budget
        search(grid_space(keys), mutator, budget=3, directory=tmp_path / "run", **arguments)
    resumed = search(grid_space(keys), mutator, budget=budget, directory=tmp_path / "run", resume=True, **arguments)
    straight = search(grid_space(keys), mutator, budget=budget, **arguments)
    assert [(t.arch, t.skipped) for t in resumed.trials] == [(t.arch, t.skipped) for t in straight.trials]
    assert mutator == "mcts" or any(t.skipped for t in straight.trials[:3])
