"""``hbk run --nproc N``: what cannot train on N processes is refused in one line before any starts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from hyperbox.kernel.launch import torchrun_command


def _experiment(tmp_path, **trainer):
    data = {
        "name": "np",
        "output_dir": str(tmp_path / "runs"),
        "dataset": {"name": "synthetic", "num_samples": 64, "input_shape": [16]},
        "space": {"name": "digits_cnn"},
        "mutator": "random",
        "trainer": {"name": "oneshot", "epochs": 1, **trainer},
        "estimators": ["params"],
        "budget": {"trials": 1},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _refused(hbk, tmp_path, *args, site=None) -> str:
    result = hbk("run", *args, site=site)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hbk: error: "), result.stderr
    assert not (tmp_path / "runs").exists()  # nothing started, nothing written
    return lines[0]


def test_more_processes_than_cores_are_refused(hbk, tmp_path):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # ours to use
    line = _refused(hbk, tmp_path, str(_experiment(tmp_path)), "--nproc", str(cores + 1))
    assert f"--nproc {cores + 1}: this machine has {cores} CPU cores" in line


def test_float16_on_a_cpu_is_refused(hbk, tmp_path):
    line = _refused(hbk, tmp_path, str(_experiment(tmp_path, precision="16-mixed")), "--nproc", "2")
    assert "precision: 16-mixed needs a CUDA device" in line


def test_a_trainer_that_cannot_train_distributed_is_refused(hbk, tmp_path, toy_site):
    toy = {"dataset": "toy_data", "space": "toy_space", "mutator": "toy_random", "estimators": ["toy_score"]}
    experiment = _experiment(tmp_path)
    data = {**yaml.safe_load(experiment.read_text()), **toy, "trainer": {"name": "toy_trainer"}}
    experiment.write_text(yaml.safe_dump(data))
    line = _refused(hbk, tmp_path, str(experiment), "--nproc", "2", site=toy_site("toy"))
    assert "trainer 'toy_trainer' cannot train on several processes" in line


@pytest.mark.parametrize("other", [["--workers", "2"], ["--storage", "sqlite:///x.db"]])
def test_nproc_shares_no_study_with_workers(hbk, tmp_path, other):
    line = _refused(hbk, tmp_path, str(_experiment(tmp_path)), "--nproc", "2", *other)
    assert "cannot share a study with workers" in line


def test_a_study_storage_in_the_experiment_is_refused(hbk, tmp_path):
    experiment = _experiment(tmp_path)
    experiment.write_text(yaml.safe_dump({**yaml.safe_load(experiment.read_text()), "storage": "sqlite:///x.db"}))
    line = _refused(hbk, tmp_path, str(experiment), "--nproc", "2")
    assert "exp.yaml: storage: one training on several processes (--nproc); it cannot share a study" in line


def test_sync_bn_on_searchable_batchnorm_is_refused(hbk, tmp_path):
    line = _refused(hbk, tmp_path, str(_experiment(tmp_path, sync_bn=True)), "--nproc", "2")
    assert "sync_bn: true: " in line and "is a searchable BatchNorm" in line


def test_the_processes_are_started_by_torchrun_on_this_machine():
    command = torchrun_command(2, ["exp.yaml", "trainer.epochs=3"])
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in command
    assert command[-5:] == ["-m", "hyperbox.kernel", "run", "exp.yaml", "trainer.epochs=3"]


def _digits_experiment(tmp_path, trainer: dict) -> Path:
    data = {
        "name": "np",
        "seed": 0,
        "output_dir": str(tmp_path / "runs"),
        "dataset": {"name": "digits"},
        "space": {"name": "digits_cnn"},
        "mutator": "random",
        "trainer": {"epochs": 1, "batch_size": 64, **trainer},
        "estimators": ["params"],
        "objective": "params",
        "budget": {"trials": 2},
    }
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("trainer", [{"name": "oneshot"}, {"name": "standalone", "checkpoint_every": 1}])
def test_a_run_on_two_processes_writes_one_run_directory_and_resumes_on_two(hbk, tmp_path, trainer):
    env = {"OMP_NUM_THREADS": "1"}
    run = hbk("run", "-q", str(_digits_experiment(tmp_path, trainer)), "--nproc", "2", env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    (directory,) = (tmp_path / "runs").iterdir()  # rank 0 alone wrote
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert [e["status"] for e in events if e["event"] == "run_end"] == ["complete"]
    assert len([e for e in events if e["event"] == "trial_end"]) == 2
    assert not list(directory.glob("*.last.pt"))  # every training ended: no checkpoint left to resume from
    # nothing left to train: the other rank is released all the same
    resumed = hbk("run", "-q", "--resume", str(directory), "--nproc", "2", env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [directory.name]


@pytest.mark.slow
def test_a_dada_search_runs_on_two_processes(hbk, tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "digits_dada.yaml"
    overrides = ["trainer.epochs=1", f"output_dir={tmp_path / 'runs'}"]
    run = hbk("run", "-q", str(example), *overrides, "--nproc", "2", env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert run.returncode == 0, run.stderr
    (directory,) = (tmp_path / "runs").iterdir()  # rank 0 alone wrote
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert [e["status"] for e in events if e["event"] == "run_end"] == ["complete"]
    assert len([e for e in events if e["event"] == "trial_end"]) == 1  # the derived policy
    assert not list(directory.glob("*.last.pt"))
