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
    HyperboxError,
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


def every_third_raises(trial):
    if trial.number % 3 == 2:
        raise RuntimeError(f"shape mismatch in trial {trial.number}")
    return 1.0


def test_a_trial_that_raises_is_failed_and_the_search_goes_on(tmp_path):
    result = search(make_space(), "random", objective=every_third_raises, budget=9, directory=tmp_path / "run")
    assert [t.state for t in result.trials] == ["complete", "complete", "failed"] * 3
    assert result.trials[2].error == "RuntimeError: shape mismatch in trial 2"
    assert result.status == "complete"
    events = [e for e in read_jsonl(tmp_path / "run" / "events.jsonl") if e["event"] == "trial_error"]
    assert [e["number"] for e in events] == [2, 5, 8]
    assert "Traceback" in events[0]["traceback"] and "every_third_raises" in events[0]["traceback"]


def test_failures_in_a_row_stop_the_search_with_the_last_error():
    def objective(trial):
        raise ValueError(f"no such layer in trial {trial.number}")

    study = Search(make_space(), "random", objective=objective, budget=20)
    with pytest.raises(HyperboxError, match=r"^5 trials failed in a row; the last, 4: ValueError: no such layer in"):
        study.run()
    assert [t.state for t in study.trials] == ["failed"] * 5 and study.result().status == "failed"
    patient = Search(make_space(), "random", objective=objective, budget=7, max_consecutive_failures=None).run()
    assert len(patient.trials) == 7


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"objective": score, "budget": 0}, r"^budget.trials: expected a positive integer, got 0$"),
        ({"objective": score, "budget": {"trials": 2, "hours": 1}}, r"^budget.hours: unknown key; allowed: trials"),
        ({"mutator": "randon"}, r"^mutator: unknown mutator 'randon'; registered: .* \(did you mean 'random'\?\)$"),
        ({"directions": "up"}, r"^directions: 'up' must be 'maximize' or 'minimize'$"),
        ({"objectives": ["a", "b"], "directions": ["maximize"]}, r"^directions: 1 directions for 2 objectives$"),
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


def test_components_by_registered_name_give_what_hbk_run_gives(toy_site, toy_experiment):
    toy_site("toy")
    path = toy_experiment()  # the toy plugin's components, as below
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


def test_tell_after_close_is_an_error_and_changes_nothing():
    study = Search(make_space(), "random", budget=3)
    first, second = study.ask(), study.ask()
    study.tell(first, 1.0)
    result = study.close()
    with pytest.raises(HyperboxError, match="^tell: the search is closed$"):
        study.tell(second, 1.0)
    assert study.close() is result and len(result.trials) == 2


def test_close_records_the_trials_never_told_as_failed():
    study = Search(make_space(), "random", budget=3)
    study.tell(study.ask(), 1.0)
    study.ask()
    result = study.close()
    assert [(t.number, t.state) for t in result.trials] == [(0, "complete"), (1, "failed")]
    assert "not told before the search closed" in result.trials[1].error


def test_several_open_trials_each_see_their_own_decisions():
    space = make_space()
    study = Search(space, "random", budget=4, seed=3)
    trials = [study.ask() for _ in range(4)]
    assert len({json.dumps(t.arch, sort_keys=True) for t in trials}) > 1
    for trial in reversed(trials):
        model = trial.model
        assert {m.key: model.mutables()[i].domain.to_json(m.decision) for i, m in enumerate(model.mutables())} == (
            trial.arch
        )
        study.tell(trial, 1.0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((0.87, 0), r"^report\(epoch, metrics\): epoch must be an integer \(it comes first\), got 0.87$"),
        ((0, 0.87), r"^report\(epoch, metrics\): metrics must be a mapping metric -> number, got 0.87$"),
        ((0, {"accuracy": "high"}), r"^report: metric 'accuracy' is 'high' \(str\); expected a number"),
    ],
)
def test_report_with_bad_arguments_is_a_one_line_error(arguments, message):
    trial = Search(make_space(), "random", budget=1).ask()
    with pytest.raises(ConfigError, match=message):
        trial.report(*arguments)


def test_an_objective_keeps_its_trained_model_for_best_model():
    def objective(trial):
        trial.keep_model({"trained for": trial.number})
        return score(trial)

    result = search(make_space(), "random", objective=objective, budget=4, seed=2)
    assert result.best_model() == {"trained for": result.best.number}


def test_with_several_objectives_a_tie_on_the_first_goes_to_the_next():
    def objective(trial):
        return {"accuracy": 0.5, "params": trial.values["depth"]}

    result = search(
        make_space(),
        "random",
        objective=objective,
        objectives=["accuracy", "params"],
        directions=["maximize", "minimize"],
        budget=6,
        seed=0,
    )
    smallest = min(t.metrics["params"] for t in result.trials)
    assert result.best.metrics["params"] == smallest
    assert result.best.number == min(t.number for t in result.trials if t.metrics["params"] == smallest)
    assert result.best in result.pareto_front


def test_resuming_with_another_seed_or_objective_is_refused(tmp_path):
    directory = tmp_path / "run"
    search(make_space(), "random", objective=score, budget=2, seed=1, directory=directory)
    for changed, message in (
        ({"seed": 2}, r"^resume: seed 2 differs from the search recorded in .* \(1\)$"),
        ({"objectives": "loss"}, r"^resume: objective \['loss'\] differs"),
    ):
        arguments = {"objective": score, "budget": 4, "seed": 1, "directory": directory, "resume": True, **changed}
        with pytest.raises(ConfigError, match=message):
            Search(make_space(), "random", **arguments).run()
    assert len(read_jsonl(directory / "trials.jsonl")) == 2


def test_resume_starts_afresh_where_there_is_no_search_yet(tmp_path):
    directory = tmp_path / "run"
    first = Search(make_space(), "random", objective=score, budget=2, directory=directory, resume=True)
    assert not directory.exists()  # nothing is created before the search starts
    assert len(first.run().trials) == 2 and not first.resumed
    again = Search(make_space(), "random", objective=score, budget=3, directory=directory, resume=True)
    assert [t.number for t in again.run().trials] == [0, 1, 2] and again.resumed


def test_a_search_that_fails_to_start_cannot_be_used_again():
    class FailingFit:
        calls = 0

        def fit(self, model, mutator, data, context):
            FailingFit.calls += 1
            raise RuntimeError("out of memory")

        def trial(self, model, arch, data, context):
            return model

    study = Search(
        make_space(),
        "random",
        trainer=FailingFit,
        estimators=[lambda m, d, c: {"accuracy": 1.0}],
        dataset=object(),
        budget=2,
    )
    with pytest.raises(RuntimeError, match="out of memory"):
        study.ask()
    with pytest.raises(HyperboxError, match="^the search is broken: it failed to start$"):
        study.ask()
    assert FailingFit.calls == 1


def test_run_with_a_new_storage_needs_a_budget(toy_site):
    toy_site("toy")
    with pytest.raises(ConfigError, match="^run: budget: give trials and/or seconds"):
        Search(make_space(), "random", objective=score, storage="toy://unbounded").run()


def test_a_spec_holding_python_objects_is_recorded_by_their_type(tmp_path):
    def constraint(arch):
        return True

    class Picky(ReportingPruner):
        def __init__(self, model, *, seed=None, threshold=0.5, check=None):
            super().__init__(model, seed=seed, threshold=threshold)

    directory = tmp_path / "run"
    search(make_space(), Picky, objective=score, budget=1, directory=directory)
    search(make_space(), {"name": "random"}, objective=score, budget=1, directory=tmp_path / "other", hparams=None)
    config = yaml.safe_load((directory / "config.yaml").read_text())
    assert config["mutator"].startswith("python:") and config["mutator"].endswith("Picky")
    assert yaml.safe_load((tmp_path / "other" / "config.yaml").read_text())["mutator"] == {"name": "random"}


def test_an_interrupted_search_resumes_where_it_stopped(tmp_path):
    directory = tmp_path / "run"

    def interrupting(trial):
        if trial.number == 2:
            raise KeyboardInterrupt
        return score(trial)

    study = Search(make_space(), "random", objective=interrupting, budget=4, seed=6, directory=directory)
    with pytest.raises(KeyboardInterrupt):
        study.run()
    assert study.result().status == "interrupted"
    assert [r["number"] for r in read_jsonl(directory / "trials.jsonl")] == [0, 1]  # the interrupted one is redone
    resumed = search(make_space(), "random", objective=score, budget=4, seed=6, directory=directory, resume=True)
    straight = search(make_space(), "random", objective=score, budget=4, seed=6)
    assert [(t.arch, t.metrics) for t in resumed.trials] == [(t.arch, t.metrics) for t in straight.trials]


def test_lifecycle_hooks_see_a_python_search(toy_site, tmp_path, monkeypatch):
    toy_site("toy")
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("TOY_EVENTS", str(log))

    def objective(trial):
        trial.report(0, {"progress": 1.0})
        return score(trial)

    search(make_space(), "random", objective=objective, budget=2)
    events = [(e["event"], e.get("number")) for e in read_jsonl(log)]
    assert events == [
        ("run_start", None),
        ("trial_start", 0),
        ("epoch_end", 0),
        ("trial_end", 0),
        ("trial_start", 1),
        ("epoch_end", 1),
        ("trial_end", 1),
        ("run_end", None),
    ]


class StatefulFit:
    """A trainer whose search phase saves a checkpoint, then fails as told."""

    def __init__(self, fail_in_fit=None, fail_in_trial=None):
        self.fail_in_fit, self.fail_in_trial = fail_in_fit, fail_in_trial

    def fit(self, model, mutator, data, context):
        context.state_path("supernet.pt").write_text("weights")
        if self.fail_in_fit is not None:
            raise self.fail_in_fit

    def trial(self, model, arch, data, context):
        if self.fail_in_trial is not None:
            raise self.fail_in_trial
        return model


def stateful_search(directory, trainer):
    estimators = [lambda model, data, context: {"accuracy": 1.0}]
    return Search(
        make_space(),
        "random",
        trainer=trainer,
        estimators=estimators,
        dataset=object(),
        budget=2,
        directory=directory,
        max_consecutive_failures=1,
    )


@pytest.mark.parametrize(
    "trainer",
    [StatefulFit(fail_in_fit=KeyboardInterrupt()), StatefulFit(fail_in_trial=RuntimeError("shape mismatch"))],
    ids=["interrupted in fit", "failing after fit"],
)
def test_a_failed_search_keeps_a_directory_with_a_checkpoint(tmp_path, trainer):
    directory = tmp_path / "run"
    with pytest.raises((KeyboardInterrupt, HyperboxError)):
        stateful_search(directory, trainer).run()
    assert (directory / "supernet.pt").read_text() == "weights"


def test_a_search_failing_with_nothing_to_keep_leaves_no_directory(tmp_path):
    directory = tmp_path / "run"
    study = Search(make_space(), "random", objective=lambda trial: "high", budget=2, directory=directory)
    with pytest.raises(ConfigError):
        study.run()
    assert not directory.exists()


def test_a_resumed_search_redoes_the_trials_an_interruption_left_open(tmp_path):
    directory = tmp_path / "run"
    study = Search(make_space(), "random", budget=4, seed=8, directory=directory)
    study.ask()  # trial 0: never told
    second = study.ask()
    study.tell(second, score(second))
    study.close("interrupted")  # Ctrl-C: trial 0 was never told
    resumed = Search(make_space(), "random", budget=4, seed=8, directory=directory, resume=True)
    numbers = []
    while (trial := resumed.ask()) is not None:
        numbers.append(trial.number)
        resumed.tell(trial, score(trial))
    assert numbers == [0, 2, 3]
    assert sorted(t.number for t in resumed.close().trials) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"resume": True}, r"^resume: needs the directory of the search to continue"),
        ({"load_if_exists": True, "storage": "toy://x"}, r"^load_if_exists: name the study to join or create"),
    ],
)
def test_arguments_that_need_another_are_one_line_errors(toy_site, arguments, message):
    toy_site("toy")
    with pytest.raises(ConfigError, match=message):
        Search(make_space(), "random", objective=score, budget=1, **arguments)


def test_close_finishes_its_work_when_the_ledger_fails(toy_site, tmp_path):
    toy_site("toy")
    study = Search(make_space(), "random", objective=score, budget=2, directory=tmp_path / "run")
    study.start()
    study.ledger.others = lambda: (_ for _ in ()).throw(OSError("database gone"))
    with pytest.raises(OSError, match="database gone"):
        study.close()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "complete"
    assert study.close().status == "complete"


def test_config_records_values_not_python_objects(toy_site, tmp_path):
    import numpy as np

    toy_site("toy")
    hparams = {"trainer.epochs": {"type": "int", "low": np.int64(1), "high": 2}}
    search(
        "toy_space",
        "toy_random",
        trainer="toy_trainer",
        estimators=[score_estimator],
        dataset="toy_data",
        hparams=hparams,
        budget=1,
        directory=tmp_path / "run",
    )
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["hparams"] == {"trainer.epochs": {"type": "int", "low": 1, "high": 2}}
    assert config["estimators"] == [f"python:{__name__}.score_estimator"]
    assert config["space"] == "toy_space" and config["trainer"] == "toy_trainer"


def score_estimator(model, data, context):
    return {"accuracy": 1.0}


def test_a_script_hears_of_failed_trials_as_an_optuna_user_does(caplog):
    with caplog.at_level("WARNING", logger="hyperbox.search"):
        search(make_space(), "random", objective=every_third_raises, budget=3, seed=0)
    (warning,) = caplog.records
    assert (
        warning.getMessage().startswith("trial 2 failed with {") and "shape mismatch in trial 2" in warning.getMessage()
    )
