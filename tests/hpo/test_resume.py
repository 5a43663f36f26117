"""A killed run of the Optuna mutator, resumed, continues exactly like an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl

EXPERIMENT = {
    "name": "toy",
    "seed": 7,
    "dataset": "toy_data",
    "space": {"name": "toy_space", "width": 4},
    "trainer": {"name": "toy_trainer", "epochs": 2},
    "estimators": ["toy_score"],
    "objective": "accuracy",
    "budget": {"trials": 6},
}

MUTATORS = {
    "tpe": {"name": "optuna", "sampler": "tpe", "sampler_args": {"n_startup_trials": 2}},
    "random": {"name": "optuna", "sampler": "random"},
}


def write_experiment(tmp_path, mutator, **changes):
    data = {**EXPERIMENT, "mutator": mutator, "output_dir": str(tmp_path / "runs"), **changes}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def kill_at_trial(path, site, cwd, number):
    """Start ``hbk run`` and SIGKILL it while trial ``number`` runs."""
    marker = cwd / "sleeping"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    env.update(PYTHONPATH=str(site), TOY_SLEEP_MARKER=str(marker))
    process = subprocess.Popen([sys.executable, "-m", "hyperbox.kernel.cli", "run", str(path), "-q"], env=env, cwd=cwd)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert marker.exists(), "the run never reached the trial it should be killed in"


@pytest.mark.parametrize("sampler", sorted(MUTATORS))
def test_resume_after_sigkill_continues_the_optuna_search_exactly(toy_site, tmp_path, hbk, sampler):
    site = toy_site("toy")
    mutator = MUTATORS[sampler]
    trainer = {"name": "toy_trainer", "epochs": 2, "sleep_at": 3, "sleep": 60}
    kill_at_trial(write_experiment(tmp_path, mutator, trainer=trainer), site, tmp_path, 3)
    (directory,) = (tmp_path / "runs").iterdir()
    before = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in before] == [0, 1, 2]
    url = f"sqlite:///{directory / 'study.db'}"
    killed = optuna.load_study(study_name="hyperbox", storage=url)
    assert [t.state for t in killed.get_trials()][-1] == TrialState.RUNNING

    result = hbk("run", "--resume", str(directory), "-q", site=site, cwd=tmp_path, env={"TOY_NO_SLEEP": "1"})
    assert result.returncode == 0, result.stderr
    after = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in after] == list(range(EXPERIMENT["budget"]["trials"]))
    assert after[:3] == before
    reference = (
        build_search(load_experiment(write_experiment(tmp_path, mutator)), console=False, progress=False)
        .run()
        .to_json()
    )
    expected = read_jsonl(Path(reference["directory"]) / "trials.jsonl")
    assert [t["arch"] for t in after] == [t["arch"] for t in expected]
    study = optuna.load_study(study_name="hyperbox", storage=url)
    states = [t.state for t in study.get_trials()]
    # the killed trial is failed (not retried), the others complete
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == EXPERIMENT["budget"]["trials"]


def test_a_resumed_grid_search_still_visits_every_cell(toy_site, tmp_path, hbk):
    """Grid numbers its cells by Optuna's trial numbers, which the killed trial shifts, so the order
    may differ; but the killed trial's cell is searched again, not taken as visited."""
    site = toy_site("toy")
    grid = {"search_space": {"op": [0, 1], "depth": [1, 2], "lr": [0.01]}}
    mutator = {"name": "optuna", "sampler": "grid", "sampler_args": grid}
    trainer = {"name": "toy_trainer", "epochs": 1, "sleep_at": 2, "sleep": 60}
    kill_at_trial(write_experiment(tmp_path, mutator, trainer=trainer, budget={"trials": 4}), site, tmp_path, 2)
    (directory,) = (tmp_path / "runs").iterdir()
    result = hbk("run", "--resume", str(directory), "-q", site=site, cwd=tmp_path, env={"TOY_NO_SLEEP": "1"})
    assert result.returncode == 0, result.stderr
    archs = {(t["arch"]["op"], t["arch"]["depth"]) for t in read_jsonl(directory / "trials.jsonl")}
    assert archs == {(0, 1), (0, 2), (1, 1), (1, 2)}
