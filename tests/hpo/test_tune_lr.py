"""hbk tune-lr: autoHyper on digits writes lrrt.csv and an experiment that trains with the rate."""

import csv
import json
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_random.yaml"


@pytest.mark.slow
def test_tune_lr_on_digits_feeds_the_final_training(hbk, tmp_path):
    result = hbk(
        "tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "4", "--allow-unconverged"
    )
    assert result.returncode == 0, result.stderr
    assert "did not converge" in result.stderr and "(exit-budget)" in result.stderr
    (run,) = tmp_path.iterdir()
    with (run / "lrrt.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["lr", "rank", "msg"]
    assert len(rows) == 5 and rows[-1]["msg"] == "exit-budget"
    assert all(0.0 <= float(r["rank"]) <= 1.0 for r in rows[:4]) and float(rows[-1]["rank"]) == -1.0
    tuned = yaml.safe_load((run / "tuned.yaml").read_text())
    assert f"learning rate {tuned['trainer']['lr']:.6g}" in result.stdout
    assert tuned["trainer"]["lr"] in [float(r["lr"]) for r in rows[:4]]  # a rate that was trained
    # a finished tune-lr directory is no unfinished run: it has a summary, and hbk show lists its trials
    summary = json.loads((run / "summary.json").read_text())
    assert summary["kind"] == "tune-lr" and summary["status"] == "unconverged" and not summary["converged"]
    assert summary["lr"] == tuned["trainer"]["lr"] and summary["trials"] == 4 and summary["best"] is None
    shown = hbk("show", str(run))
    assert shown.returncode == 0, shown.stderr
    assert "not finished" not in shown.stdout and "lr" in shown.stdout
    final = hbk(
        "run", str(run / "tuned.yaml"), "budget.trials=1", "trainer.epochs=1", f"output_dir={tmp_path / 'final'}", "-q"
    )
    assert final.returncode == 0, final.stderr
    (final_run,) = (tmp_path / "final").iterdir()
    assert yaml.safe_load((final_run / "config.yaml").read_text())["trainer"]["lr"] == tuned["trainer"]["lr"]


def test_an_unconverged_search_says_why_exits_1_and_writes_no_tuned_experiment(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "2", "-q")
    assert result.returncode == 1
    assert "did not converge: --max-trials short trials were spent" in result.stderr
    assert "no tuned.yaml" in result.stdout
    # the stem's and the depthwise convolution's input unfoldings have one channel
    assert "left out of the rank" in result.stderr and "stem.0.weight mode 3" in result.stderr
    (run,) = tmp_path.iterdir()
    assert not (run / "tuned.yaml").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["converged"] is False and summary["exit"] == "exit-budget" and summary["tuned"] is None
    trained = [lr for lr, rank, _ in summary["history"] if rank >= 0]
    assert len(trained) == 2 and summary["last_trained"] == trained[-1] and summary["lr"] in trained
    low, high = summary["final_range"]
    assert low < high and summary["history"][-1] == [low, -1.0, "exit-budget"]
    assert any(name.startswith("stem.0.weight") for name in summary["rank_left_out"])
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    short_trials = [event for event in events if event["event"] == "lr_trial"]
    assert len(short_trials) == 2 and all(event["scheduler"] is None for event in short_trials)  # a constant rate
    resumed = hbk("run", "--resume", str(run), "-q")  # a tune-lr directory is not a search to resume
    assert resumed.returncode != 0 and "a tune-lr directory, not a search to resume" in resumed.stderr


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


@pytest.mark.parametrize(
    "option, message",
    [
        (["--max-lr", "20"], "--max-lr <= 10"),
        (["--min-lr", "0.5"], "0 < --min-lr < --max-lr"),
        (["--max-trials", "0"], "--max-trials must be at least 1"),
    ],
)
def test_bad_options_are_one_line_errors_before_a_run_directory(hbk, tmp_path, option, message):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", *option, "-q")
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_network_without_convolutions_is_refused_before_a_run_directory(hbk, tmp_path):
    experiment = {
        "name": "dense",
        "dataset": "digits",
        "space": "dnn",  # dense layers only: the rank reads none of them
        "mutator": "random",
        "trainer": {"name": "standalone", "epochs": 1},
        "estimators": ["accuracy"],
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "dense.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = hbk("tune-lr", str(path), "-q")
    assert result.returncode == 2 and "space dnn" in result.stderr and "convolution" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "runs").exists()
