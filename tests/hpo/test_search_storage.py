"""Searches from Python on a shared Optuna storage: a study created, joined, and its budget shared."""

import optuna
import pytest

from hyperbox.kernel import ConfigError, Search, search


def objective(trial):
    return trial.values["depth"] / 10


def test_searches_naming_one_study_share_it_and_its_budget(make_space, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    arguments = {"objective": objective, "budget": 4, "storage": url, "study": "shared", "load_if_exists": True}
    first = Search(make_space(), "random", seed=0, **arguments)
    first.tell(first.ask(), 0.5)  # one trial here, then another process's search joins
    second = search(make_space(), "random", seed=0, worker=1, **arguments)
    result = first.close()
    assert len(second.trials) == 4 and len(result.trials) == 4
    assert sorted(t.number for t in second.trials) == [0, 1, 2, 3]
    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4


def test_a_named_study_that_exists_is_refused_without_load_if_exists(make_space, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    search(make_space(), "random", objective=objective, budget=1, storage=url, study="taken")
    with pytest.raises(ConfigError, match=r"study 'taken' exists already; .*load_if_exists=True"):
        search(make_space(), "random", objective=objective, budget=1, storage=url, study="taken")


def test_a_joined_study_must_optimise_the_same_objectives(make_space, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    search(make_space(), "random", objective=objective, budget=1, storage=url, study="s")
    with pytest.raises(ConfigError, match=r"study 's' has direction \['maximize'\]; this search has \['minimize'\]"):
        search(
            make_space(),
            "random",
            objective=objective,
            directions="minimize",
            budget=1,
            storage=url,
            study="s",
            load_if_exists=True,
        )


def test_asking_past_the_budget_with_own_trials_open_does_not_wait(make_space, tmp_path):
    study = Search(make_space(), "random", budget=2, storage=f"sqlite:///{tmp_path / 's.db'}")
    first, second = study.ask(), study.ask()
    assert study.ask() is None  # the only running trials are this search's own: nothing can come back
    study.tell(second, 0.2)
    study.tell(first, 0.1)
    assert [t.state for t in study.close().trials] == ["complete", "complete"]


RACER = """
import sys, time
from hyperbox.kernel import Search
from hyperbox.kernel.testing import ToyMutable, ToySpace
from hyperbox.kernel import IntRange

def objective(trial):
    time.sleep(0.05)
    return trial.values["depth"] / 10

space = ToySpace([ToyMutable("depth", IntRange(1, 9))])
result = Search(space, "random", objective=objective, budget=8, storage=sys.argv[1], study="race",
                load_if_exists=True, worker=int(sys.argv[2])).run()
print(sum(1 for t in result.trials if t.state == "complete"))
"""


def test_processes_started_together_share_one_study(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    optuna.storages.RDBStorage(url).remove_session()  # the schema exists: only the study is raced for
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert out.strip() == "8"  # each saw every trial of the shared study
    trials = optuna.load_study(study_name="race", storage=url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 8
