"""The example experiment searches a policy end to end; its result loads back as model and as Kornia pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from hyperbox.ada import AugmentationPolicy, augmented, load_policy
from hyperbox.kernel.cli import main
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.nas.demo_space import DigitsCNNSpace
from hyperbox.nas.subnet import build_subnet

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_augment.yaml"


def test_the_example_runs_and_its_best_policy_exports(tmp_path):
    overrides = ["budget.trials=2", "trainer.epochs=1", "mutator.population_size=2", f"output_dir={tmp_path}"]
    summary = build_search(load_experiment(EXAMPLE, overrides), console=False, progress=False).run().to_json()
    assert summary["status"] == "complete" and summary["complete"] == 2
    directory = Path(summary["directory"])
    arch_file = directory / "best_arch.json"
    assert all(key.startswith("policy.") for key in json.loads(arch_file.read_text()))

    space = yaml.safe_load(EXAMPLE.read_text())["space"]
    model = augmented(DigitsCNNSpace(num_classes=10), space["policy"], space["network_arch"], in_channels=1)
    subnet = build_subnet(model, arch_file)
    subnet.load_state_dict(torch.load(directory / "best_weights.pt", weights_only=True))
    pipeline = AugmentationPolicy(**space["policy"]).to_kornia(arch_file)
    assert pipeline(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_registering_the_plugin_imports_neither_torch_nor_kornia():
    code = "import sys, hyperbox.ada.plugin, hyperbox.ada; print(sorted({'torch', 'kornia'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_dada_example_derives_a_policy_that_exports(tmp_path):
    example = EXAMPLE.parent / "digits_dada.yaml"
    overrides = ["trainer.epochs=1", f"output_dir={tmp_path}"]
    summary = build_search(load_experiment(example, overrides), console=False, progress=False).run().to_json()
    assert summary["status"] == "complete" and summary["complete"] == 1
    assert all(key.startswith("policy.") for key in summary["best"]["arch"])
    assert main(["export", summary["directory"], "-o", str(tmp_path / "found")]) == 0
    assert load_policy(tmp_path / "found" / "policy.json", in_channels=1)(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)
