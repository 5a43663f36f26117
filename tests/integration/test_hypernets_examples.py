"""The seed's three Hypernets examples, translated to Hyperbox (examples/hypernets/), run with
small budgets: each prints its best architecture's values and model."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hypernets"


def run(script, *arguments, cwd):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--trials", "2", "--epochs", "1", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("best architecture: {") and lines[1].startswith("accuracy: ")
    assert "Linear(" in done.stdout  # the best model, plain PyTorch
    return done.stdout


@pytest.mark.slow
def test_dnn_on_arrays_and_on_a_csv_file(tmp_path):
    assert "'Dynamic_1.units': " in run("dnn_tabular.py", cwd=tmp_path)  # named as Hypernets names it
    table = tmp_path / "table.csv"
    rows = ["width,height,colour,label"] + [
        f"{i % 7},{(i * 3) % 11},{'red' if i % 2 else 'blue'},{int(i % 7 > 3)}" for i in range(120)
    ]
    table.write_text("\n".join(rows) + "\n")
    from_csv = run("dnn_tabular.py", "--csv", str(table), "--target", "label", cwd=tmp_path)
    assert "'Dynamic_1.reduce_factor': " in from_csv


@pytest.mark.slow
def test_cnn_on_digits(tmp_path):
    assert "'fc1.units': " in run("cnn_digits.py", "--filters", "4", "8", "--fc-units", "16", cwd=tmp_path)


@pytest.mark.slow
def test_enas_micro_on_digits(tmp_path):
    assert "'normal_N0_L_op_choice': " in run("enas_micro_digits.py", "--init-filters", "4", cwd=tmp_path)
