"""A supernet training killed (SIGKILL) in the middle of its third epoch resumes from its last
checkpoint with ``hbk run --resume`` and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from hyperbox.kernel.files import read_jsonl

pytestmark = pytest.mark.slow

EXPERIMENT = {
    "name": "killed",
    "seed": 0,
    "dataset": {"name": "digits"},
    "space": {"name": "digits_cnn"},
    "mutator": {"name": "random"},
    "trainer": {"name": "oneshot", "epochs": 4, "batch_size": 32, "sampling": "sandwich", "sandwich_n": 1},
    "estimators": ["params"],
    "objective": "params",
    "budget": {"trials": 1},
}


def _hbk(*args: str) -> list[str]:
    return [sys.executable, "-m", "hyperbox.kernel.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # the same arithmetic in every run


def _experiment(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "output_dir": str(tmp_path / name)}))
    return path


def _run_directory(parent: Path) -> Path:
    return next(parent.iterdir())


def _finished_epochs(events: Path) -> list[int]:
    return [e["epoch"] for e in read_jsonl(events) if e.get("event") == "epoch_end"]


def test_sigkill_in_epoch_3_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    whole = subprocess.run(_hbk("run", "-q", str(_experiment(tmp_path, "whole"))), env=_env(), capture_output=True)
    assert whole.returncode == 0, whole.stderr.decode()

    process = subprocess.Popen(_hbk("run", "-q", str(_experiment(tmp_path, "killed"))), env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            runs = tmp_path / "killed"
            if runs.is_dir() and any(runs.iterdir()) and 1 in _finished_epochs(_run_directory(runs) / "events.jsonl"):
                break  # two epochs done: the third has begun
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed = _run_directory(tmp_path / "killed")
    assert not (killed / "supernet.pt").exists()
    assert _finished_epochs(killed / "events.jsonl") == [0, 1]  # killed in the third epoch
    last = torch.load(killed / "supernet.last.pt", weights_only=True)
    assert last["epoch"] == 1  # the checkpoint of the second epoch

    before = len(_finished_epochs(killed / "events.jsonl"))
    resumed = subprocess.run(_hbk("run", "-q", "--resume", str(killed)), env=_env(), capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert _finished_epochs(killed / "events.jsonl")[before:] == [2, 3]  # from the checkpoint, not from epoch 0
    expected = torch.load(_run_directory(tmp_path / "whole") / "supernet.pt", weights_only=True)
    found = torch.load(killed / "supernet.pt", weights_only=True)
    assert expected.keys() == found.keys()
    assert all(torch.equal(expected[k], found[k]) for k in expected)
