"""Studies that scale out: workers share one Optuna study (SQLite and PostgreSQL), its budget is
global and exact, a killed worker's trial is retried, every mutator can run multi-worker."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hyperbox.hpo._storage import close_storage
from hyperbox.kernel import ConfigError
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl

BUDGET = 8
EXPERIMENT = {
    "name": "toy",
    "seed": 3,
    "dataset": "toy_data",
    "space": {"name": "toy_space", "width": 4},
    "mutator": "toy_random",
    "trainer": {"name": "toy_trainer", "epochs": 2, "pause": 0.05},
    "estimators": ["toy_score"],
    "objective": "accuracy",
    "budget": {"trials": BUDGET},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """A fresh storage: a SQLite file, or a new database on the private PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


def write_experiment(tmp_path, **changes):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "output_dir": str(tmp_path / "runs"), **changes}))
    return path


def environment(site, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    return {**env, "PYTHONPATH": str(site), **extra}


def hbk_process(*args, site, cwd, **extra):
    return subprocess.Popen(
        [sys.executable, "-m", "hyperbox.kernel.cli", *args],
        env=environment(site, **extra),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


_OPENED = []  # the storages tests open, disposed of after each test


@pytest.fixture(autouse=True)
def _dispose_storages():
    yield
    while _OPENED:
        close_storage(_OPENED.pop())


def load_study(url, name):
    storage = optuna.storages.RDBStorage(url)
    _OPENED.append(storage)
    return optuna.load_study(study_name=name, storage=storage)


def study_states(url, name):
    study = load_study(url, name)
    return Counter(t.state for t in study.get_trials(deepcopy=False)), study


def check_exact_budget(url, study_name, trials_file):
    states, study = study_states(url, study_name)
    assert states[TrialState.COMPLETE] == BUDGET
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0
    records = read_jsonl(trials_file)
    numbers = [r["number"] for r in records if r["state"] == "complete"]
    assert len(numbers) == len(set(numbers)) == BUDGET
    return study, records


def test_two_workers_complete_exactly_the_budget(toy_site, tmp_path, storage_url, hbk):
    site = toy_site("toy")
    path = write_experiment(tmp_path)
    study_name = f"exact-{tmp_path.name}"
    result = hbk(
        "run",
        str(path),
        "--workers",
        "2",
        "--storage",
        storage_url,
        "--study",
        study_name,
        "-q",
        site=site,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "runs").iterdir()
    study, records = check_exact_budget(storage_url, study_name, directory / "trials.jsonl")
    assert len(study.get_trials(deepcopy=False)) == BUDGET  # never a trial beyond the queue
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["complete"] == BUDGET and summary["status"] == "complete"
    best = max(records, key=lambda r: r["metrics"]["accuracy"])
    assert summary["best"]["metrics"]["accuracy"] == best["metrics"]["accuracy"]
    assert json.loads((directory / "best_arch.json").read_text())["op"] == best["arch"]["op"]
    config = yaml.safe_load((directory / "config.yaml").read_text())
    assert config["storage"] == storage_url


def test_a_killed_worker_loses_no_trial(toy_site, tmp_path, storage_url):
    site = toy_site("toy")
    storage = {"url": storage_url, "heartbeat_interval": 1, "grace_period": 2}
    path = write_experiment(tmp_path, storage=storage, trainer={**EXPERIMENT["trainer"], "sleep_at": 2, "sleep": 60})
    study_name = f"killed-{tmp_path.name}"
    run = build_search(load_experiment(path), console=False, progress=False, study=study_name)
    run.start()  # creates the study; the workers run the trials
    marker = tmp_path / "sleeping"
    workers = [
        hbk_process(
            "worker",
            "--study",
            study_name,
            "--run-dir",
            str(run.directory),
            "--index",
            str(index),
            "-q",
            site=site,
            cwd=tmp_path,
            HBK_STORAGE=storage_url,
            TOY_SLEEP_MARKER=str(marker),
        )
        for index in range(2)
    ]
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeping = int(marker.read_text())
    os.kill(sleeping, signal.SIGKILL)
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == (-signal.SIGKILL if worker.pid == sleeping else 0), stderr
    run.close()
    study, records = check_exact_budget(storage_url, study_name, run.directory / "trials.jsonl")
    retried = [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get("failed_trial") == 2]
    assert [t.state for t in retried] == [TrialState.COMPLETE]
    lost = study.trials[2]
    assert lost.state == TrialState.FAIL
    assert next(r for r in records if r["number"] == retried[0].number)["arch"] == json.loads(
        lost.user_attrs["hyperbox:arch"]
    )


def test_a_worker_joins_a_study_created_by_hbk_run(toy_site, tmp_path):
    site = toy_site("toy")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    path = write_experiment(tmp_path, trainer={**EXPERIMENT["trainer"], "pause": 0.2})
    creator = hbk_process("run", str(path), "--storage", url, "--study", "joined", "-q", site=site, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("runs/*/events.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the run directory comes after the study
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    joiner = hbk_process("worker", "--storage", url, "-q", site=site, cwd=elsewhere)  # no file, no --study
    for process in (creator, joiner):
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    states, _ = study_states(url, "joined")
    assert states == {TrialState.COMPLETE: BUDGET}
    directories = sorted((tmp_path / "runs").iterdir())  # the joiner made its own (same output_dir)
    assert len(directories) == 2
    for directory in directories:  # each summary counts every worker's trials
        assert json.loads((directory / "summary.json").read_text())["complete"] == BUDGET
    own = [len(read_jsonl(directory / "trials.jsonl")) for directory in directories]
    assert sum(own) == BUDGET and min(own) > 0  # both took part


@pytest.mark.parametrize(
    "mutator",
    [
        "random",
        {"name": "evolution", "population_size": 3, "sample_size": 2},
        {"name": "optuna", "sampler": "tpe", "sampler_args": {"n_startup_trials": 3}},
    ],
    ids=["random", "evolution", "tpe"],
)
def test_every_mutator_runs_with_two_workers(toy_site, tmp_path, hbk, mutator):
    site = toy_site("toy")
    path = write_experiment(tmp_path, mutator=mutator)
    result = hbk("run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "runs").iterdir()
    url = f"sqlite:///{directory / 'study.db'}"
    (name,) = optuna.study.get_all_study_names(url)
    study, records = check_exact_budget(url, name, directory / "trials.jsonl")
    assert len(study.get_trials(deepcopy=False)) == BUDGET
    archs = [json.dumps(r["arch"], sort_keys=True) for r in records]
    assert len(set(archs)) > BUDGET // 2  # the workers' seeds differ: not the same proposals twice
    if isinstance(mutator, dict) and mutator["name"] == "optuna":  # the sampler's params live in the study
        assert all(t.params for t in study.trials)
        assert {json.dumps(r["arch"], sort_keys=True) for r in records} == set(archs)


def test_optuna_mutator_keeps_its_study_in_the_run_directory(toy_site, tmp_path):
    toy_site("toy")
    path = write_experiment(tmp_path, mutator={"name": "optuna", "sampler": "random"}, budget={"trials": 3})
    summary = build_search(load_experiment(path), console=False, progress=False).run().to_json()
    url = f"sqlite:///{Path(summary['directory']) / 'study.db'}"
    study = load_study(url, "hyperbox")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_workers_without_a_storage_plugin_is_a_one_line_error(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = write_experiment(tmp_path)
    result = hbk("-p", "no:hpo", "run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "hpo plugin" in result.stderr and "'sqlite'" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unreachable_storage_is_a_one_line_error_before_any_run_directory(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = write_experiment(tmp_path)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://hb:secret@127.0.0.1:{port}/hb"
    result = hbk("run", str(path), "--storage", url, "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot open" in result.stderr and "secret" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_existing_study_is_neither_joined_nor_changed_by_a_new_run(toy_site, tmp_path):
    toy_site("toy")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="taken")
    search = build_search(load_experiment(write_experiment(tmp_path, storage=url)), console=False, study="taken")
    with pytest.raises(ConfigError, match="study 'taken' exists already"):
        search.run()
    assert optuna.load_study(study_name="taken", storage=url).trials == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_failing_workers_leave_their_log_where_the_error_says(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = write_experiment(tmp_path, objective="nothere")
    result = hbk("run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode != 0
    (directory,) = (tmp_path / "runs").iterdir()
    assert f"see {directory / 'events.jsonl'}" in result.stderr
    assert "objective 'nothere' is not measured" in (directory / "events.jsonl").read_text()


def test_hbk_worker_on_a_study_created_from_python_says_where_to_join_it(make_space, tmp_path, hbk):
    from hyperbox.kernel import Search

    url = f"sqlite:///{tmp_path / 'python.db'}"
    study = Search(make_space(), "random", budget=2, storage=url, study="from-python")
    study.start()
    result = hbk("worker", "--storage", url, "--study", "from-python", "-q", cwd=tmp_path)
    study.close()
    assert result.returncode == 2
    assert "was created from Python; join it from Python" in result.stderr and "Traceback" not in result.stderr


def test_two_workers_go_on_past_failing_trials(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = write_experiment(tmp_path, trainer={**EXPERIMENT["trainer"], "fail_every": 3})
    result = hbk("run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "runs").iterdir()
    records = read_jsonl(directory / "trials.jsonl")
    assert len(records) == BUDGET
    assert {r["state"] for r in records} == {"complete", "failed"}
    assert all(r["error"].startswith("RuntimeError: toy failure") for r in records if r["state"] == "failed")
    # one worker at least runs half the budget, so two failures in a row stop it
    broken = write_experiment(tmp_path, trainer={**EXPERIMENT["trainer"], "fail_every": 1}, max_consecutive_failures=2)
    result = hbk("run", str(broken), "--workers", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2 and "trials failed in a row" in result.stderr


def test_with_a_worker_on_a_shared_study_each_run_exports_the_summarys_best(toy_site, tmp_path, storage_url, hbk):
    import torch

    site = toy_site("toy")
    study = f"one-truth-{tmp_path.name}"
    trainer = {**EXPERIMENT["trainer"], "pause": 0.2, "weights": True}
    path = write_experiment(tmp_path, trainer=trainer)
    creator = hbk_process("run", str(path), "--storage", storage_url, "--study", study, "-q", site=site, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("runs/*/events.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    joiner = hbk_process("worker", "--storage", storage_url, "--study", study, "-q", site=site, cwd=elsewhere)
    for process in (creator, joiner):
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    directories = sorted((tmp_path / "runs").iterdir())
    assert len(directories) == 2 and all(read_jsonl(d / "trials.jsonl") for d in directories)  # both took part
    for directory in directories:
        best = json.loads((directory / "summary.json").read_text())["best"]
        assert json.loads((directory / "best_arch.json").read_text()) == best["arch"]
        out = tmp_path / f"export-{directory.name}"
        exported = hbk("export", str(directory), "-o", str(out), site=site)
        assert exported.returncode == 0, exported.stderr
        assert json.loads((out / "arch.json").read_text()) == best["arch"]
        assert torch.load(out / "weights.pt", weights_only=True) == {"trained_by": best["number"]}


def test_each_workers_lines_say_which_worker(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    result = hbk("run", str(write_experiment(tmp_path)), "--workers", "2", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if " complete " in line and "trial " in line]
    assert len(lines) == BUDGET
    assert all(line.split()[1] == "[worker" for line in lines)  # after the time
    assert {line.split("[worker ")[1][0] for line in lines} == {"0", "1"}


def test_sigterm_stops_every_local_worker_so_that_the_run_resumes(toy_site, tmp_path):
    site = toy_site("toy")
    path = write_experiment(tmp_path, trainer={**EXPERIMENT["trainer"], "pause": 0.5}, budget={"trials": 16})
    process = hbk_process("run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = list(tmp_path.glob("runs/*/trials.jsonl"))
        if runs and read_jsonl(runs[0]):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    (directory,) = (tmp_path / "runs").iterdir()
    assert json.loads((directory / "summary.json").read_text())["status"] == "interrupted"
    assert len(read_jsonl(directory / "trials.jsonl")) < 16  # stopped, not run to the end


@pytest.mark.parametrize(("device", "expected"), [("cuda", [{"5"}, {"7"}]), ("cpu", [{"5,7"}, {"5,7"}])])
def test_workers_of_a_cuda_run_each_take_a_gpu_of_their_own(toy_site, tmp_path, hbk, device, expected):
    site = toy_site("toy")
    path = write_experiment(tmp_path, device=device)
    log = tmp_path / "gpus.log"
    env = {"CUDA_VISIBLE_DEVICES": "5,7", "TOY_GPU_LOG": str(log)}
    result = hbk("run", str(path), "--workers", "2", "-q", site=site, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    by_worker: dict[str, set] = {}
    for line in log.read_text().splitlines():
        pid, gpus = line.split()
        by_worker.setdefault(pid, set()).add(gpus)
    assert sorted(by_worker.values(), key=sorted) == expected  # round-robin over the visible GPUs, or left alone


def test_worker_devices_go_round_robin_over_the_visible_gpus():
    from hyperbox.kernel.workers import worker_devices

    assert worker_devices(3, "cuda", "2, 3", gpus=0) == ["2", "3", "2"]
    assert worker_devices(2, "auto", None, gpus=4) == ["0", "1"]
    assert worker_devices(2, "cuda", None, gpus=0) is None  # no GPU: torch reports the error in the worker
    assert worker_devices(2, "cuda:1", "0,1", gpus=2) is None  # a device the experiment names stays
    assert worker_devices(2, "cpu", "0,1", gpus=2) is None
