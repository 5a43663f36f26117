"""hbk tune-lr: autoHyper on digits writes lrrt.csv and an experiment that trains with the rate."""

import csv
import json
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_random.yaml"


@pytest.mark.slow
def test_tune_lr_on_digits_feeds_the_final_training(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "4", "-q")
    assert result.returncode == 0, result.stderr
    (run,) = tmp_path.iterdir()
    with (run / "lrrt.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["lr", "rank", "msg"]
    assert 1 <= len(rows) <= 6 and rows[-1]["msg"].startswith("exit")
    assert all(0.0 <= float(r["rank"]) <= 1.0 or float(r["rank"]) == -1.0 for r in rows)
    tuned = yaml.safe_load((run / "tuned.yaml").read_text())
    assert f"learning rate {tuned['trainer']['lr']:.6g}" in result.stdout
    # a finished tune-lr directory is no unfinished run: it has a summary, and hbk show lists its trials
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["kind"] == "tune-lr"
    assert summary["lr"] == tuned["trainer"]["lr"] and 1 <= summary["trials"] <= 4 and summary["best"] is None
    shown = hbk("show", str(run))
    assert shown.returncode == 0, shown.stderr
    assert "not finished" not in shown.stdout and "lr" in shown.stdout
    final = hbk(
        "run", str(run / "tuned.yaml"), "budget.trials=1", "trainer.epochs=1", f"output_dir={tmp_path / 'final'}", "-q"
    )
    assert final.returncode == 0, final.stderr
    (final_run,) = (tmp_path / "final").iterdir()
    assert yaml.safe_load((final_run / "config.yaml").read_text())["trainer"]["lr"] == tuned["trainer"]["lr"]


def test_tune_lr_refuses_a_searched_learning_rate(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE.parent / "digits_joint_nas_hpo.yaml"), f"output_dir={tmp_path}", "-q")
    assert result.returncode != 0 and "hparams searches trainer.lr" in result.stderr
    assert not any(tmp_path.iterdir())


def test_tune_lr_checks_the_arch_file_before_creating_a_run_directory(hbk, tmp_path):
    output = tmp_path / "runs"
    missing = hbk("tune-lr", str(EXAMPLE), f"output_dir={output}", "--arch", str(tmp_path / "nope.json"), "-q")
    assert missing.returncode == 2 and "nope.json" in missing.stderr and missing.stderr.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_key": 1}))
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={output}", "--arch", str(bad), "-q")
    assert result.returncode == 2 and "bad.json" in result.stderr and result.stderr.count("\n") == 1
    assert not output.exists() or not any(output.iterdir())


def test_tune_lr_refuses_a_trainer_without_a_learning_rate_before_creating_a_run_directory(toy_site, hbk, tmp_path):
    site = toy_site("toy")
    experiment = {
        "name": "toy",
        "dataset": "toy_data",
        "space": "toy_space",
        "mutator": "random",
        "trainer": {"name": "toy_trainer"},
        "estimators": ["toy_score"],
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = hbk("tune-lr", str(path), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2 and "lr" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_tune_lr_directory_is_not_resumed_as_a_search(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "2", "-q")
    assert result.returncode == 0, result.stderr
    (run,) = tmp_path.iterdir()
    resumed = hbk("run", "--resume", str(run), "-q")
    assert resumed.returncode != 0 and "a tune-lr directory, not a search to resume" in resumed.stderr
