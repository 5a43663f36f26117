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
