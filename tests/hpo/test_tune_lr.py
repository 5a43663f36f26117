"""hbk tune-lr: autoHyper on digits writes lrrt.csv and an experiment that trains with the rate."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from hyperbox.hpo._epoch_weights import EpochWeights

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


def test_an_unconverged_search_says_why_exits_3_and_writes_no_tuned_experiment(hbk, tmp_path):
    result = hbk("tune-lr", str(EXAMPLE), f"output_dir={tmp_path}", "--epochs", "1", "--max-trials", "2", "-q")
    assert result.returncode == 3  # not 1, an error's
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
        (["--min-lr", "0.01", "--max-lr", "0.01001"], "--max-lr - --min-lr must be at least 3e-05"),
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


# --- the weights after each epoch of a short trial ----------------------------------------------


def step(model, optimizer):
    optimizer.zero_grad()
    model(torch.randn(2, 3, 6, 6)).sum().backward()
    optimizer.step()


def two_convolutions():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3))


def test_epoch_weights_skip_a_report_before_the_first_step():
    model = two_convolutions()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with EpochWeights() as weights:
        weights.take()  # reported before any step: nothing to copy yet
        step(model, optimizer)
        weights.take()
    (snapshot,) = weights.snapshots(model)
    assert [name for name, _ in snapshot.named_parameters()] == ["0.weight", "1.weight"]
    assert torch.equal(dict(snapshot.named_parameters())["0.weight"], model[0].weight)


def test_epoch_weights_fall_back_to_the_trained_network_when_nothing_steps():
    model = two_convolutions()
    with EpochWeights() as weights:
        with torch.no_grad():  # a trainer that updates the weights by hand
            model[0].weight += 1.0
        weights.take()
    assert weights.snapshots(model) == [model]


def test_epoch_weights_keep_only_the_trained_networks_weights_held_in_every_epoch():
    model, other = two_convolutions(), two_convolutions()
    optimizer = torch.optim.SGD(model[0].parameters(), lr=0.1)
    other_optimizer = torch.optim.SGD(other.parameters(), lr=0.1)  # another model stepping in the process
    with EpochWeights() as weights:
        step(model, optimizer)
        step(other, other_optimizer)
        weights.take()
        optimizer.add_param_group({"params": model[1].parameters()})  # seen from now on
        step(model, optimizer)
        weights.take()
    snapshots = weights.snapshots(model)
    assert len(snapshots) == 2
    assert all([name for name, _ in snapshot.named_parameters()] == ["0.weight"] for snapshot in snapshots)
    stranger = two_convolutions()  # a network the optimisers never stepped
    with pytest.warns(UserWarning, match="no convolution weight of the network the trial returned"):
        assert weights.snapshots(stranger) == [stranger]


def test_a_converged_search_exits_0_and_writes_the_tuned_experiment(toy_site, hbk, tmp_path):
    site = toy_site("ranked", plugins=Path(__file__).parent / "toy_plugins")  # a known rank at each rate
    experiment = yaml.safe_load(EXAMPLE.read_text())
    experiment.update(trainer={"name": "ranked_trainer"}, output_dir=str(tmp_path / "runs"))
    path = tmp_path / "ranked.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = hbk("tune-lr", str(path), "--epochs", "2", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "did not converge" not in result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["converged"] is True and summary["status"] == "complete"
    assert summary["exit"] == "exit-delta"
    trained = {lr: rank for lr, rank, _ in summary["history"] if rank >= 0}
    assert summary["lr"] in trained and summary["last_trained"] in trained
    low, high = summary["final_range"]
    assert high - low < 3e-5 and low <= summary["lr"] <= high  # the rules' own exit: the range closed
    assert 9e-3 < summary["lr"] < 2.7e-2  # where the rank reaches 0 (the trainer's third and fourth layers)
    tuned = yaml.safe_load((run / "tuned.yaml").read_text())
    assert tuned["trainer"] == {"name": "ranked_trainer", "lr": summary["lr"]}
    assert summary["tuned"] == str(run / "tuned.yaml")
    assert f"learning rate {summary['lr']:.6g} after {summary['trials']} short trials" in result.stdout


def test_a_weight_decay_search_reports_its_final_region_and_last_trial(toy_site, hbk, tmp_path):
    site = toy_site("ranked", plugins=Path(__file__).parent / "toy_plugins")
    experiment = yaml.safe_load(EXAMPLE.read_text())
    experiment.update(trainer={"name": "ranked_trainer"}, output_dir=str(tmp_path / "runs"))
    path = tmp_path / "ranked.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = hbk("tune-lr", str(path), "--weight-decay", "--max-trials", "12", "-q", site=site, cwd=tmp_path)
    assert result.returncode == 3 and "(exit-budget)" in result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    lr_scale, weight_decay_scale = summary["scales"]
    assert summary["final_range"] == {
        "lr": pytest.approx([summary["lr"] / lr_scale, summary["lr"] * lr_scale]),
        "weight_decay": pytest.approx(
            [summary["weight_decay"] / weight_decay_scale, summary["weight_decay"] * weight_decay_scale]
        ),
    }
    trials = [[lr, wd] for lr, wd, _, msg in summary["history"] if msg == "trial"]
    assert len(trials) == 12 and summary["last_trained"] == trials[-1]


def test_an_architecture_whose_trained_network_the_rank_cannot_read_is_a_one_line_error(toy_site, hbk, tmp_path):
    site = toy_site("ranked", plugins=Path(__file__).parent / "toy_plugins")
    experiment = yaml.safe_load(EXAMPLE.read_text())
    # the supernet has convolutions; the network trained has only 1-channel ones
    experiment.update(trainer={"name": "ranked_trainer", "channels": 1}, output_dir=str(tmp_path / "runs"))
    path = tmp_path / "ranked.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = hbk("tune-lr", str(path), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "ranked.yaml: architecture {" in result.stderr and "it trains none" in result.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # nothing half-written
