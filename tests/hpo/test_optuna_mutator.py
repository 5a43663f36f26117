"""The Optuna mutator: samplers, pruners, encodings, several objectives, shared storage."""

import json
import signal
import socket
import subprocess
import sys
import time
import warnings

import optuna
import pytest

from hyperbox.hpo._components import SAMPLERS
from hyperbox.hpo.mutator import OptunaMutator
from hyperbox.kernel import Categorical, ConfigError, IntRange, Subset
from hyperbox.kernel.testing import ToyMutable, ToySpace, fake_metrics

SAMPLER_ARGS = {
    "grid": {"search_space": {"lr": [0.001, 0.01]}},
    "gp": {"n_startup_trials": 2},
    "cmaes": {"n_startup_trials": 2},
    "nsga2": {"population_size": 4},
    "nsga3": {"population_size": 4},
}


def search(mutator, trials, score=None):
    archs = []
    for _ in range(trials):
        arch = mutator.space.to_json(mutator.reset())
        archs.append(arch)
        mutator.observe(arch, score(arch) if score else fake_metrics(arch))
    return archs


def assert_one_line(error):
    assert "\n" not in str(error.value) and str(error.value)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_searches_a_toy_space(name, make_space):
    mutator = OptunaMutator(
        make_space(floats=name != "bruteforce"), seed=0, sampler=name, sampler_args=SAMPLER_ARGS.get(name)
    )
    for arch in search(mutator, 5):
        mutator.space.validate(arch)
    assert len(mutator.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 5


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"sampler": "tpee"}, "unknown sampler 'tpee'; registered: bruteforce, cmaes"),
        ({"sampler": "tpe", "sampler_args": {"n_startup": 3}}, "sampler 'tpe' takes no argument 'n_startup'"),
        ({"sampler": "random", "sampler_args": {"seed": 3}}, "set the seed on the mutator"),
        ({"pruner": "medain"}, "unknown pruner 'medain'"),
        ({"pruner": "median", "pruner_args": {"warmup": 1}}, "pruner 'median' takes no argument 'warmup'"),
        ({"pruner": "percentile", "pruner_args": {"percentile": 200.0}}, "pruner 'percentile':"),
        ({"directions": ["up"]}, "directions ['up']"),
        ({"sampler": "grid"}, "sampler 'grid': 'lr' is continuous"),
        ({"sampler": "grid", "sampler_args": {"search_space": {"lrr": [1]}}}, "unknown key(s) ['lrr']"),
        ({"sampler": "bruteforce"}, "sampler 'bruteforce': 'lr' is continuous"),
    ],
)
def test_bad_arguments_are_one_line_errors(arguments, expected, make_space):
    with pytest.raises(ConfigError) as error:
        OptunaMutator(make_space(), **arguments)
    assert expected in str(error.value)
    assert_one_line(error)


def test_unknown_sampler_suggests_the_closest_name(make_space):
    with pytest.raises(ConfigError, match=r"did you mean 'nsga2'\?"):
        OptunaMutator(make_space(), sampler="nsga-2")


@pytest.mark.parametrize("pruning_metric", [None, "val_accuracy"])
def test_median_pruner_prunes_a_clearly_bad_trial(pruning_metric, make_space):
    mutator = OptunaMutator(
        make_space(), seed=0, pruner="median", pruner_args={"n_startup_trials": 2}, pruning_metric=pruning_metric
    )
    reported = pruning_metric or "accuracy"
    for _ in range(3):
        arch = mutator.space.to_json(mutator.reset())
        for step in range(3):
            assert mutator.report(arch, step, {reported: 0.9, "loss": 0.1}) is False
        mutator.observe(arch, {"accuracy": 0.9})
    bad = mutator.space.to_json(mutator.reset())
    assert mutator.report(bad, 0, {reported: 0.1}) is True
    states = [t.state for t in mutator.study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3 + [optuna.trial.TrialState.PRUNED]
    search(mutator, 1)  # the search goes on after a pruned trial


def test_by_default_the_pruner_compares_what_trainers_report_for_the_objective(make_space):
    """Trainers report ``val_accuracy`` per epoch for the ``accuracy`` objective: that is pruned on."""
    mutator = OptunaMutator(make_space(), seed=0, pruner="median", pruner_args={"n_startup_trials": 1})
    good = mutator.space.to_json(mutator.reset())
    assert mutator.report(good, 0, {"train_loss": 0.1, "val_accuracy": 0.9}) is False
    mutator.observe(good, {"accuracy": 0.9})
    bad = mutator.space.to_json(mutator.reset())
    assert mutator.report(bad, 0, {"train_loss": 0.1, "val_accuracy": 0.2}) is True


def test_a_report_without_the_pruning_metric_is_a_one_line_error(make_space):
    named = OptunaMutator(make_space(), seed=0, pruner="median", pruning_metric="val_acc")
    with pytest.raises(ConfigError, match=r"^pruning_metric 'val_acc' is not reported; reported: \['val_accuracy'\]$"):
        named.report(named.space.to_json(named.reset()), 0, {"val_accuracy": 0.5})
    unnamed = OptunaMutator(make_space(), seed=0, pruner="median")
    with pytest.raises(ConfigError, match=r"hold neither 'accuracy' nor 'val_accuracy'; name the one"):
        unnamed.report(unnamed.space.to_json(unnamed.reset()), 0, {"loss": 0.5, "val_loss": 0.4})
    plain = OptunaMutator(make_space(), seed=0)  # no pruner: reports are not looked at
    assert plain.report(plain.space.to_json(plain.reset()), 0, {"loss": 0.5, "val_loss": 0.4}) is False


def test_discard_closes_a_failed_trial(make_space):
    mutator = OptunaMutator(make_space(), seed=0)
    arch = mutator.space.to_json(mutator.reset())
    mutator.discard(arch, "failed")
    assert mutator.study.trials[0].state == optuna.trial.TrialState.FAIL


def test_two_objectives_with_nsga2(make_space):
    mutator = OptunaMutator(make_space(), seed=0, sampler="nsga2", sampler_args={"population_size": 4})
    mutator.set_objectives(["accuracy", "params"], ["maximize", "minimize"])
    archs = search(mutator, 10)
    assert mutator.report(archs[-1], 0, {"accuracy": 0.5}) is False  # pruning is single-objective
    assert [d.name for d in mutator.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert mutator.study.best_trials
    mutator.space.validate(mutator.export())


def test_pruning_several_objectives_is_an_error(make_space):
    mutator = OptunaMutator(make_space(), pruner="median")
    with pytest.raises(ConfigError, match="pruner 'median' needs a single objective"):
        mutator.set_objectives(["accuracy", "params"], ["maximize", "minimize"])


def test_large_subsets_are_searched_through_per_candidate_scores(make_space):
    space = make_space(ToyMutable("cells", Subset(10, 3)), ToyMutable("skips", Subset(6)))
    mutator = OptunaMutator(space, seed=0, sampler="cmaes")
    assert "cells[9]" in mutator.encoding.distributions and "skips[5]" in mutator.encoding.distributions
    archs = search(mutator, 6)
    for arch in archs:
        assert sum(arch["cells"]) == 3 and sum(arch["skips"]) >= 1
        assert mutator.encoding.decode(mutator.encoding.encode(arch)) == mutator.space.validate(arch)


def test_observing_an_architecture_it_did_not_sample_adds_a_trial(make_space):
    mutator = OptunaMutator(make_space(), seed=0)
    arch = {"op": 2, "inputs": [1, 1, 0, 0], "depth": 3, "lr": 0.01}
    mutator.observe(arch, {"accuracy": 0.99})
    search(mutator, 2, score=lambda a: {"accuracy": 0.1})
    assert mutator.space.to_json(mutator.sample_final()) == arch


def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_two_mutators_on_one_sqlite_study_share_its_trials(tmp_path, make_space):
    first = OptunaMutator(make_space(), seed=1, storage=sqlite_url(tmp_path), study_name="shared")
    second = OptunaMutator(make_space(), seed=1, storage=sqlite_url(tmp_path), study_name="shared")
    archs = []
    for _ in range(3):
        archs += search(first, 1) + search(second, 1)
    assert len(first.study.trials) == len(second.study.trials) == 6
    # the same seed, yet every trial draws its own suggestion
    assert len({str(sorted(a.items())) for a in archs}) == 6
    second.restore([(a, fake_metrics(a), "complete") for a in archs])  # the storage holds them already
    assert len(second.study.trials) == 6


def test_existing_study_with_other_directions_is_refused_and_left_unchanged(tmp_path, make_space):
    url = sqlite_url(tmp_path)
    search(OptunaMutator(make_space(), seed=0, storage=url, study_name="s"), 2)
    other = OptunaMutator(make_space(), seed=0, storage=url, study_name="s")
    with pytest.raises(
        ConfigError, match=r"study 's' exists with directions \['maximize'\], not \['minimize'\]"
    ) as error:
        other.set_objectives(["loss"], ["minimize"])  # the runner calls it before it creates a run
    assert_one_line(error)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) == 2 and study.directions == [optuna.study.StudyDirection.MAXIMIZE]
    assert optuna.get_all_study_names(url) == ["s"]


def test_existing_study_without_load_if_exists_is_refused(tmp_path, make_space):
    url = sqlite_url(tmp_path)
    search(OptunaMutator(make_space(), storage=url, study_name="s"), 1)
    with pytest.raises(ConfigError, match="already exists"):
        OptunaMutator(make_space(), storage=url, study_name="s", load_if_exists=False).set_objectives(
            ["accuracy"], ["maximize"]
        )


def test_unreachable_postgres_is_a_fast_one_line_error(make_space):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"storage .postgresql://hb:\*\*\*@127\.0\.0\.1.*: cannot open") as error:
        OptunaMutator(make_space(), storage=f"postgresql://hb:secret@127.0.0.1:{port}/hb")
    assert time.monotonic() - started < 10
    assert "secret" not in str(error.value)
    assert_one_line(error)


def test_unusable_sqlite_path_is_a_one_line_error(tmp_path, make_space):
    with pytest.raises(ConfigError, match="cannot open") as error:
        OptunaMutator(make_space(), storage=f"sqlite:///{tmp_path / 'missing' / 'study.db'}")
    assert_one_line(error)


WORKER = """
import json, sys, time
from hyperbox.hpo.mutator import OptunaMutator
from hyperbox.kernel import Categorical, IntRange
from hyperbox.kernel.testing import ToyMutable, ToySpace
space = ToySpace([ToyMutable("op", Categorical(3)), ToyMutable("depth", IntRange(1, 9))])
mutator = OptunaMutator(space, seed=0, storage=sys.argv[1], study_name="s", heartbeat_interval=1, grace_period=1)
mutator.set_objectives(["accuracy"], ["maximize"])
print(json.dumps(mutator.space.to_json(mutator.reset())), flush=True)
time.sleep(60)
"""


def test_a_killed_workers_trial_is_failed_and_retried(tmp_path):
    url = sqlite_url(tmp_path)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, url], stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(worker.stdout.readline())
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker.stdout.close()
    time.sleep(3)  # past the grace period (SQLite's clock counts whole seconds): the trial is stale
    survivor = OptunaMutator(
        ToySpace([ToyMutable("op", Categorical(3)), ToyMutable("depth", IntRange(1, 9))]),
        seed=1,
        storage=url,
        study_name="s",
        heartbeat_interval=1,
        grace_period=1,
    )
    retried = survivor.space.to_json(survivor.reset())
    assert retried == started
    survivor.observe(retried, {"accuracy": 0.5})
    states = [t.state for t in survivor.study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


def test_study_parameters_are_the_values_people_read():
    from hyperbox.kernel import Search
    from hyperbox.kernel.hparams import HyperParameters

    space = HyperParameters(
        {"optimizer": ["sgd", "adamw"], "width": [16, 32, 64], "lr": {"type": "float", "low": 0.01, "high": 0.1}}
    )
    study = Search(space, "optuna", budget=4, seed=0)
    while (trial := study.ask()) is not None:
        study.tell(trial, 1.0)
    optuna_study = study.mutator.study
    study.close()
    for frozen in optuna_study.trials:
        assert frozen.params["optimizer"] in ("sgd", "adamw") and frozen.params["width"] in (16, 32, 64)


def test_a_sampler_whose_random_start_fills_the_budget_says_so(make_space):
    from hyperbox.kernel import Search, SearchWarning

    with pytest.warns(SearchWarning, match=r"sampler 'tpe' samples its first 10 trials at random \(n_startup_trials\)"):
        Search(make_space(), "optuna", objective=lambda trial: 1.0, budget=4).run()
    quiet = {"name": "optuna", "sampler_args": {"n_startup_trials": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Search(make_space(), quiet, objective=lambda trial: 1.0, budget=4).run()


def test_a_grid_takes_the_values_people_write():
    from hyperbox.kernel import Search
    from hyperbox.kernel.hparams import HyperParameters

    space = HyperParameters({"optimizer": ["sgd", "adam", "adamw"], "width": [16, 32]})
    grid = {"name": "optuna", "sampler": "grid", "sampler_args": {"search_space": {"optimizer": ["adamw", "sgd"]}}}
    result = Search(space, grid, objective=lambda trial: 1.0, budget=4, seed=0).run()
    assert {(t.values["optimizer"], t.values["width"]) for t in result.trials} == {
        (o, w) for o in ("adamw", "sgd") for w in (16, 32)
    }


def test_a_repeated_proposal_is_told_the_earlier_value_and_not_trained_again():
    """As Optuna's recipe for repeated parameters: the repeat's trial gets the earlier value."""
    from hyperbox.kernel import Search, SearchWarning

    space = ToySpace([ToyMutable("op", Categorical(3, labels=("a", "b", "c"))), ToyMutable("wide", Categorical(2))])
    trained = []

    def objective(trial):
        trained.append(trial.values)
        return trial.values["wide"] + 0.1 * "abc".index(trial.values["op"])

    search = Search(space, {"name": "optuna", "sampler": "tpe"}, objective=objective, budget=20, seed=0)
    with pytest.warns(SearchWarning, match="every one of the 6 architectures is evaluated"):
        result = search.run()
    assert len(trained) == 6 and all(trained.count(values) == 1 for values in trained)
    skipped = sum(len(trial.skipped) for trial in result.trials)
    study = search.mutator.study
    assert len(study.trials) == 6 + skipped
    by_params = {}
    for frozen in study.trials:
        assert frozen.state == optuna.trial.TrialState.COMPLETE
        assert by_params.setdefault(json.dumps(frozen.params, sort_keys=True), frozen.value) == frozen.value


def test_a_grid_ends_the_search_once_its_cells_are_evaluated():
    from hyperbox.kernel import FloatRange, Search, SearchWarning

    space = ToySpace([ToyMutable("lr", FloatRange(0.0, 1.0))])
    grid = {"name": "optuna", "sampler": "grid", "sampler_args": {"search_space": {"lr": [0.1, 0.2, 0.3]}}}
    search = Search(space, grid, objective=lambda trial: trial.values["lr"], budget=10, seed=0)
    with pytest.warns(SearchWarning, match="every one of the 3 architectures is evaluated"):
        result = search.run()
    assert sorted(trial.values["lr"] for trial in result.trials) == [0.1, 0.2, 0.3]
    assert len(search.mutator.study.trials) == 3  # no proposal beyond the grid
