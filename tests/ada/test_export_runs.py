"""hbk export of any run: the space rebuilt from what the run recorded (no dataset, no trainer),
the policy written beside the network's weights, plain networks' weights copied as they are."""

from __future__ import annotations

import filecmp
import shutil

import numpy as np
import torch
import yaml

from hyperbox.ada import AugmentationPolicy, augmented, load_policy
from hyperbox.kernel import SearchSpace, search
from hyperbox.kernel.cli import main
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import parse_experiment
from hyperbox.nas.demo_space import DigitsCNNSpace

torch.set_num_threads(1)
AUGMENTED = {
    "name": "augmented",
    "network": {"name": "digits_cnn"},
    "policy": {"ops": ["rotate", "contrast"], "n_subpolicies": 1},
}
TRAINED = {"trainer": {"name": "standalone", "epochs": 1}, "estimators": ["accuracy"], "budget": 1}


def exported_files(run, out) -> set[str]:
    assert main(["export", str(run), "-o", str(out)]) == 0
    return {path.name for path in out.iterdir()}


def assert_network_weights_only(path) -> None:
    weights = torch.load(path, weights_only=True)
    assert weights and not any(key.startswith(("augmentation.", "network.")) for key in weights)


def test_a_search_from_python_exports_its_policy_apart_from_the_network(tmp_path):
    search(space=AUGMENTED, mutator="random", dataset="digits", directory=tmp_path / "run", console=False, **TRAINED)
    assert exported_files(tmp_path / "run", tmp_path / "out") >= {"policy.json", "weights.pt", "arch.json"}
    assert_network_weights_only(tmp_path / "out" / "weights.pt")
    assert load_policy(tmp_path / "out" / "policy.json", in_channels=1)(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_a_plain_networks_weights_are_copied_as_they_are(tmp_path):
    search(space="digits_cnn", mutator="random", dataset="digits", directory=tmp_path / "run", console=False, **TRAINED)
    assert "policy.json" not in exported_files(tmp_path / "run", tmp_path / "out")
    assert filecmp.cmp(tmp_path / "run" / "best_weights.pt", tmp_path / "out" / "weights.pt", shallow=False)


def test_export_needs_neither_the_data_nor_the_policy_file_where_the_run_started(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            np.save(tmp_path / "images" / label / f"{i}.npy", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    given = AugmentationPolicy(ops=["rotate"], n_subpolicies=1, ops_per_subpolicy=1, in_channels=1)
    SearchSpace.of(given).apply({key: 0 for key in SearchSpace.of(given)})
    given.save(tmp_path / "given.json")
    monkeypatch.chdir(tmp_path)  # the data and the fixed policy named from here
    experiment = {
        "dataset": {"name": "image_folder", "root": "images"},
        "space": AUGMENTED,
        "mutator": "random",
        "trainer": {"name": "standalone", "epochs": 1, "augment": "given.json"},
        "estimators": ["accuracy"],
        "output_dir": str(tmp_path / "runs"),
    }
    build_search(parse_experiment(experiment, "x.yaml"), console=False, progress=False).run()
    run = next((tmp_path / "runs").iterdir())
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["trainer"]["augment"] == str(tmp_path / "given.json")
    shutil.rmtree(tmp_path / "images")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert "policy.json" in exported_files(run, tmp_path / "out")
    assert_network_weights_only(tmp_path / "out" / "weights.pt")


def test_a_space_given_as_an_object_says_what_its_export_leaves_out(tmp_path, capsys):
    space = augmented(DigitsCNNSpace(), AUGMENTED["policy"], in_channels=1)
    search(space=space, mutator="random", dataset="digits", directory=tmp_path / "run", console=False, **TRAINED)
    assert "policy.json" not in exported_files(tmp_path / "run", tmp_path / "out")
    assert "its space was a Python object" in capsys.readouterr().err
