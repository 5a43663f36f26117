"""hbk tune-lr: autoHyper on digits writes lrrt.csv and an experiment that trains with the rate."""

import csv
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_random.yaml"


def test_tune_lr_on_digits_feeds_the_final_training(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "4", "-q")
    assert result.returncode == 0, result.stderr
    (run,) = tmp_path.iterdir()
    rows = list(csv.DictReader((run / "lrrt.csv").open()))
    assert list(rows[0]) == ["lr", "rank", "msg"]
    assert 1 <= len(rows) <= 6 and rows[-1]["msg"].startswith("exit")
    assert all(0.0 <= float(r["rank"]) <= 1.0 or float(r["rank"]) == -1.0 for r in rows)
    tuned = yaml.safe_load((run / "tuned.yaml").read_text())
    assert f"learning rate {tuned['trainer']['lr']:.6g}" in result.stdout
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
