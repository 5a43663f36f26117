"""The example third-party plugin, installed with pip as the README says, works by name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from hyperbox.kernel.files import read_jsonl

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hyperbox-plugin-hillclimb"


def test_installed_example_plugin_is_listed_and_usable(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    listed = hbk("plugins", "--json", site=site)
    assert listed.returncode == 0, listed.stderr
    plugin = next(p for p in json.loads(listed.stdout) if p["name"] == "hillclimb")
    assert plugin["distribution"] == "hyperbox-plugin-hillclimb" and plugin["status"] == "ok"
    assert plugin["registers"] == {"mutators": ["hillclimb"]}

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "dataset": "toy_data",
                "space": "toy_space",
                "mutator": {"name": "hillclimb", "warmup": 2},
                "trainer": "toy_trainer",
                "estimators": ["toy_score"],
                "budget": {"trials": 6},
                "output_dir": str(tmp_path / "runs"),
            }
        )
    )
    result = hbk("run", str(experiment), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert len(read_jsonl(run / "trials.jsonl")) == 6

    # the package's own conformance tests pass against the installed copy
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
    )
    assert suite.returncode == 0, suite.stdout
    assert "10 passed" in suite.stdout  # every test of MutatorTestCase
