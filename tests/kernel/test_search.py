"""The engine's Python API: Search, search(), ask and tell, SearchResult (torch-free toy spaces)."""

import json
import math
import os

import pytest
import yaml

from hyperbox.kernel import (
    Categorical,
    ConfigError,
    FloatRange,
    IntRange,
    Mutator,
    Search,
    SearchResult,
    Subset,
    TrialPruned,
    search,
)
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl
from hyperbox.kernel.testing import ToyMutable, ToySpace


def make_space():
    return ToySpace(
        [
            ToyMutable("kernel_size", Categorical(3, labels=(3, 5, 7))),
            ToyMutable("depth", IntRange(1, 6)),
            ToyMutable("lr", FloatRange(1e-3, 1e-1, log=True)),
            ToyMutable("inputs", Subset(3, 2, labels=("a", "b", "c"))),
        ]
    )


def score(trial):
    """A deterministic objective of the decisions."""
    return trial.values["kernel_size"] / 7 + trial.values["depth"] / 10 - trial.values["lr"]


class ReportingPruner(Mutator):
    """Random sampling; prunes every trial whose first report is below ``threshold``."""

    def __init__(self, model, *, seed=None, threshold=0.5):
        super().__init__(model, seed=seed)
        self.threshold = threshold

    def sample_search(self):
        return self.space.sample(self.rng)

    def report(self, arch, step, metrics):
        return metrics["progress"] < self.threshold


def test_an_objective_function_searches_a_space_defined_in_python(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = search(make_space(), "random", objective=score, budget=6, seed=3)
    assert isinstance(result, SearchResult) and result.status == "complete"
    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.state == "complete" for t in result.trials)
    best = max(result.trials, key=lambda t: (t.metrics["accuracy"], -t.number))
    assert result.best == best
    assert result.best.values["kernel_size"] in (3, 5, 7)
    assert set(result.best.values["inputs"]) <= {"a", "b", "c"} and len(result.best.values["inputs"]) == 2
    assert result.directory is None
    assert list(tmp_path.iterdir()) == []  # directory=None writes no file


def test_the_same_seed_gives_the_same_trials_and_another_seed_others():
    def trials(seed):
        return [
            (t.arch, t.metrics) for t in search(make_space(), "random", objective=score, budget=5, seed=seed).trials
        ]

    assert trials(1) == trials(1) != trials(2)


def test_ask_and_tell_with_the_users_own_loop():
    space = make_space()
    study = Search(space, "random", objectives="loss", directions="minimize", budget=4, seed=0)
    seen = []
    while (trial := study.ask()) is not None:
        assert [m.decision for m in space.mutables() if m.key == "depth"] == [trial.arch["depth"]]  # applied
        assert trial.model is space
        seen.append(trial.number)
        study.tell(trial, trial.values["depth"] * 0.1)
    result = study.close()
    assert seen == [0, 1, 2, 3]
    assert result.best.metrics["loss"] == min(t.metrics["loss"] for t in result.trials)
    assert result.directions == ("minimize",)


def test_ask_and_tell_proposes_what_run_proposes():
    asked = Search(make_space(), "random", budget=4, seed=5)
    while (trial := asked.ask()) is not None:
        asked.tell(trial, score(trial))
    run = Search(make_space(), "random", objective=score, budget=4, seed=5).run()
    assert [(t.arch, t.metrics) for t in asked.close().trials] == [(t.arch, t.metrics) for t in run.trials]


def test_tell_refuses_a_trial_never_asked_or_told_twice():
    study = Search(make_space(), "random", budget=3)
    trial = study.ask()
    other = Search(make_space(), "random", budget=3).ask()
    with pytest.raises(ConfigError, match="^tell: trial 0 was never asked by this search$"):
        study.tell(other, 1.0)
    study.tell(trial, 1.0)
    with pytest.raises(ConfigError, match="^tell: trial 0 was told already$"):
        study.tell(trial, 1.0)


def test_tell_takes_an_exception_as_a_failed_or_pruned_trial():
    study = Search(make_space(), "random", budget=2)
    failed, pruned = study.ask(), study.ask()
    assert study.tell(failed, RuntimeError("out of memory")).state == "failed"
    assert study.tell(pruned, TrialPruned("stopped")).state == "pruned"
    records = study.close().trials
    assert records[0].error == "RuntimeError: out of memory" and records[1].state == "pruned"


@pytest.mark.parametrize(
    "returned, message",
    [
        ("high", r"^objective returned 'high' \(str\); expected a number or a mapping metric -> number$"),
        (None, r"^objective returned None \(NoneType\); expected a number or a mapping metric -> number$"),
        ({"accuracy": [1]}, r"^objective returned 'accuracy'=\[1\] \(list\); expected a number"),
    ],
)
def test_an_objective_returning_neither_a_number_nor_a_mapping_is_a_one_line_error(returned, message):
    study = Search(make_space(), "random", objective=lambda trial: returned, budget=3)
    with pytest.raises(ConfigError, match=message):
        study.run()
    assert [t.state for t in study.trials] == ["failed"]


def test_several_objectives_from_one_value_each_give_a_pareto_front():
    def objective(trial):
        return trial.values["depth"], trial.values["kernel_size"]

    result = search(
        make_space(),
        "random",
        objective=objective,
        objectives=["depth", "size"],
        directions=["maximize", "minimize"],
        budget=10,
        seed=0,
    )
    points = {t.number: (t.metrics["depth"], -t.metrics["size"]) for t in result.trials}
    front = {n for n, a in points.items() if not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in points.values())}
    assert {t.number for t in result.pareto_front} == front
    assert result.to_json()["pareto_front"][0]["values"]["kernel_size"] in (3, 5, 7)
    with pytest.raises(ConfigError, match=r"returned one number for 2 objectives"):
        search(make_space(), "random", objective=score, objectives=["a", "b"], budget=1)


def test_report_lets_the_mutator_prune_a_trial():
    def objective(trial):
        for epoch in range(3):
            trial.report(epoch, {"progress": trial.values["depth"] / 6})
        return score(trial)

    result = search(make_space(), ReportingPruner, objective=objective, budget=8, seed=0)
    states = {t.number: t.state for t in result.trials}
    for trial in result.trials:
        expected = "pruned" if trial.arch["depth"] / 6 < 0.5 else "complete"
        assert states[trial.number] == expected
        assert trial.metrics["progress"] == trial.arch["depth"] / 6  # reported metrics are kept
    assert "pruned" in states.values() and "complete" in states.values()


def test_an_exception_in_the_objective_fails_its_trial_and_stops_the_search():
    def objective(trial):
        if trial.number == 1:
            raise RuntimeError("boom")
        return 1.0

    study = Search(make_space(), "random", objective=objective, budget=4)
    with pytest.raises(RuntimeError, match="boom"):
        study.run()
    assert [(t.number, t.state) for t in study.trials] == [(0, "complete"), (1, "failed")]
    assert study.result().status == "failed"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"objective": score, "budget": 0}, r"^budget.trials: expected a positive integer, got 0$"),
        ({"objective": score, "budget": {"trials": 2, "hours": 1}}, r"^budget.hours: unknown key; allowed: trials"),
        ({"mutator": "randon"}, r"^mutator: unknown mutator 'randon'; registered: .* \(did you mean 'random'\?\)$"),
        ({"directions": "up"}, r"^directions: 'up' must be 'maximize' or 'minimize'$"),
        ({"objective": "accuracy"}, r"^objective: expected a function objective\(trial\)"),
        ({"objective": score, "trainer": "toy_trainer"}, "either an objective function or a trainer"),
        ({"trainer": "toy_trainer"}, r"^trainer: needs a dataset"),
        ({"trainer": "toy_trainr", "dataset": "toy_data"}, r"^trainer: unknown trainer 'toy_trainr'.*did you mean"),
    ],
)
def test_bad_arguments_are_one_line_errors(toy_site, arguments, message):
    toy_site("toy")
    with pytest.raises(ConfigError, match=message) as raised:
        Search(make_space(), **{"mutator": "random", **arguments})
    assert "\n" not in str(raised.value)


def test_run_needs_an_evaluation_and_a_budget():
    with pytest.raises(ConfigError, match="use ask\\(\\) and tell\\(\\)"):
        Search(make_space(), "random", budget=2).run()
    with pytest.raises(ConfigError, match="^run: budget: give trials and/or seconds"):
        Search(make_space(), "random", objective=score).run()
    unlimited = Search(make_space(), "random")  # ask and tell needs no budget
    for _ in range(3):
        unlimited.tell(unlimited.ask(), 1.0)
    assert len(unlimited.close().trials) == 3


def test_a_mutator_instance_must_search_the_given_space():
    space = make_space()
    mine = ReportingPruner(space, seed=0)
    assert Search(space, mine, objective=score, budget=1).mutator is mine
    with pytest.raises(ConfigError, match="searches another model"):
        Search(make_space(), mine, objective=score, budget=1)


def test_components_by_registered_name_give_what_hbk_run_gives(toy_site, tmp_path):
    toy_site("toy")
    experiment = {
        "name": "toy",
        "seed": 7,
        "dataset": "toy_data",
        "space": {"name": "toy_space", "width": 4},
        "mutator": "toy_random",
        "trainer": {"name": "toy_trainer", "epochs": 2},
        "estimators": ["toy_score"],
        "budget": {"trials": 5},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(experiment))
    from_file = build_search(load_experiment(path), console=False).run()
    from_python = search(
        {"name": "toy_space", "width": 4},
        "toy_random",
        trainer={"name": "toy_trainer", "epochs": 2},
        estimators=["toy_score"],
        dataset="toy_data",
        budget=5,
        seed=7,
    )
    assert [(t.arch, t.metrics) for t in from_python.trials] == [(t.arch, t.metrics) for t in from_file.trials]


def test_a_space_factory_receives_the_datasets_shape(toy_site):
    toy_site("toy")
    shapes = []

    def factory(num_classes):
        shapes.append(num_classes)
        return make_space()

    search(factory, "random", objective=score, dataset="toy_data", budget=1)
    assert shapes == [3]  # ToyData.num_classes


def test_a_directory_gets_the_files_of_hbk_run_and_resumes(tmp_path):
    directory = tmp_path / "run"
    first = Search(make_space(), "random", objective=score, budget=3, seed=4, directory=directory).run()
    assert first.directory == directory
    for name in ("config.yaml", "events.jsonl", "trials.jsonl", "summary.json", "best_arch.json"):
        assert (directory / name).is_file(), name
    assert json.loads((directory / "summary.json").read_text()) == first.to_json()
    assert json.loads((directory / "best_arch.json").read_text()) == first.best.arch
    config = yaml.safe_load((directory / "config.yaml").read_text())
    assert config["created_from"] == "python" and config["objective"] == ["accuracy"]
    with pytest.raises(ConfigError, match="holds a search already; pass resume=True"):
        Search(make_space(), "random", objective=score, budget=6, directory=directory)
    resumed = Search(make_space(), "random", objective=score, budget=6, seed=4, directory=directory, resume=True).run()
    straight = search(make_space(), "random", objective=score, budget=6, seed=4)
    assert [(t.arch, t.metrics) for t in resumed.trials] == [(t.arch, t.metrics) for t in straight.trials]
    assert [r["number"] for r in read_jsonl(directory / "trials.jsonl")] == list(range(6))


def test_best_model_is_built_by_the_build_subnet_hook(toy_site):
    toy_site("toy")
    result = search(make_space(), "random", objective=score, budget=3)
    assert result.best_model().arch == result.best.arch  # the toy plugin's ToySubnet


def test_best_model_is_the_trained_model_a_trainer_returned(toy_site):
    toy_site("toy")

    class KeepingTrainer:
        def trial(self, model, arch, data, context):
            return {"trained": context.trial.number, "seed": context.seed}

    result = search(
        make_space(),
        "random",
        trainer=KeepingTrainer,
        estimators=[lambda m, d, c: {"accuracy": 1.0}],
        dataset=object(),
        budget=2,
    )
    model = result.best_model()
    assert model == {"trained": result.best.number, "seed": result.best.seed}


def test_a_diverged_value_fails_its_trial():
    result = search(make_space(), "random", objective=lambda trial: math.nan, budget=2)
    assert [t.state for t in result.trials] == ["failed", "failed"] and result.best is None
    assert result.trials[0].error == "objective 'accuracy' is nan"


def test_hparams_need_a_rebuildable_trainer(toy_site):
    toy_site("toy")
    hparams = {"trainer.epochs": {"type": "int", "low": 1, "high": 3}}
    with pytest.raises(ConfigError, match="searched trainer arguments need a trainer"):
        Search(make_space(), "random", objective=score, hparams=hparams, budget=1)
    result = search(
        "toy_space",
        "random",
        trainer="toy_trainer",
        estimators=["toy_score"],
        dataset="toy_data",
        hparams=hparams,
        budget=4,
        seed=1,
    )
    assert result.hparams == {"trainer.epochs": result.best.arch["trainer.epochs"]}


def test_the_search_writes_nothing_anywhere_without_a_directory(toy_site, tmp_path, monkeypatch):
    toy_site("toy")
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    search(
        {"name": "toy_space"},
        "toy_random",
        trainer="toy_trainer",
        estimators=["toy_score"],
        dataset="toy_data",
        budget=3,
    )
    assert set(os.listdir(tmp_path)) == before
