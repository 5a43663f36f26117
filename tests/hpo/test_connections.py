"""Database connections are released: the shared ledger's and the Optuna mutator's engines are
disposed of when they are done, and joining a study opens no database it does not find."""

import optuna
import pytest
import yaml

from hyperbox.hpo import _ledger
from hyperbox.hpo._ledger import OptunaLedger
from hyperbox.kernel import ConfigError
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment

EXPERIMENT = {
    "name": "toy",
    "seed": 3,
    "dataset": "toy_data",
    "space": {"name": "toy_space", "width": 4},
    "mutator": {"name": "optuna", "sampler": "random"},
    "trainer": {"name": "toy_trainer", "epochs": 1},
    "estimators": ["toy_score"],
    "objective": "accuracy",
    "budget": {"trials": 2},
}


def write_experiment(tmp_path, **changes):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "output_dir": str(tmp_path / "runs"), **changes}))
    return path


def pooled(storage):
    """Connections an Optuna storage (or its cache) keeps open in its engine's pool."""
    return getattr(storage, "_backend", storage).engine.pool.checkedin()


def test_the_ledger_and_the_mutator_release_their_connections(toy_site, tmp_path):
    toy_site("toy")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    run = build_search(
        load_experiment(write_experiment(tmp_path, storage=url)), console=False, progress=False, study="s"
    )
    run.start()
    assert pooled(run.ledger._storage) > 0
    run.run()
    assert pooled(run.ledger._storage) == 0
    alone = build_search(load_experiment(write_experiment(tmp_path)), console=False, progress=False)
    alone.run()  # the mutator's study.db in the run directory
    assert pooled(alone.mutator._storage) == 0


def test_joining_keeps_one_storage_open(toy_site, tmp_path, monkeypatch):
    toy_site("toy")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    creator = build_search(
        load_experiment(write_experiment(tmp_path, storage=url)), console=False, progress=False, study="s"
    )
    creator.start()  # creates the study
    creator.close()
    opened = []

    def recording(*args, **kwargs):
        opened.append(open_storage(*args, **kwargs))
        return opened[-1]

    open_storage = _ledger.open_storage
    monkeypatch.setattr(_ledger, "open_storage", recording)
    ledger = OptunaLedger(url, study="s")
    assert [pooled(storage) > 0 for storage in opened].count(True) == 1
    ledger.close()
    assert all(pooled(storage) == 0 for storage in opened)


@pytest.mark.parametrize("where", ["missing.db", "no/such/dir/x.db"])
def test_joining_a_missing_sqlite_file_is_a_one_line_error_that_creates_nothing(tmp_path, hbk, where):
    database = tmp_path / where
    result = hbk("worker", "--storage", f"sqlite:///{database}", "-q", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(database) in result.stderr
    assert not database.exists() and not (tmp_path / "no").exists()
    with pytest.raises(ConfigError, match="no database file"):
        OptunaLedger(f"sqlite:///{database}")
    assert not database.exists()


def test_an_existing_sqlite_file_is_joined(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(storage=url, study_name="plain")
    with pytest.raises(ConfigError, match="not created by hyperbox") as error:
        OptunaLedger(url)
    assert "\n" not in str(error.value)
