"""Joint search: a policy next to an architecture and trainer hyper-parameters, exported together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hyperbox.ada import load_policy

EXPERIMENT = {
    "name": "joint",
    "seed": 0,
    "dataset": {"name": "digits", "batch_size": 128},
    "space": {
        "name": "augmented",
        "network": {"name": "digits_cnn"},
        "policy": {"ops": ["rotate", "contrast"], "n_subpolicies": 2},
    },
    "trainer": {"name": "standalone", "epochs": 1},
    "hparams": {"trainer.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
    "estimators": ["accuracy"],
    "objective": "accuracy",
    "budget": {"trials": 2},
}


@pytest.mark.slow
@pytest.mark.parametrize("mutator", ["random", "optuna"])
def test_policy_architecture_and_hyper_parameters_in_one_search(tmp_path, mutator):
    experiment = tmp_path / "joint.yaml"
    experiment.write_text(
        yaml.safe_dump({**EXPERIMENT, "mutator": {"name": mutator}, "output_dir": str(tmp_path / "runs")})
    )
    hbk = str(Path(sys.executable).parent / "hbk")
    subprocess.run([hbk, "run", "-q", str(experiment)], check=True, capture_output=True)
    run = next((tmp_path / "runs").iterdir())
    subprocess.run([hbk, "export", str(run), "-o", str(tmp_path / "found")], check=True, capture_output=True)
    arch = json.loads((tmp_path / "found" / "arch.json").read_text())
    assert {"stem_width", "policy.s0.op0.op", "trainer.lr"} <= set(arch)  # network, policy, hyper-parameter
    weights = torch.load(tmp_path / "found" / "weights.pt", weights_only=True)
    assert all(not key.startswith(("augmentation.", "network.")) for key in weights)  # the plain network's keys
    assert load_policy(tmp_path / "found" / "policy.json", in_channels=1)(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)
