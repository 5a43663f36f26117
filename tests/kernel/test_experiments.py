"""Experiment files through the composition root: run directories, hooks, seeds, resume, objectives."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl


def test_run_writes_a_complete_run_directory(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    summary = build_search(load_experiment(toy_experiment()), console=False).run().to_json()
    directory = Path(summary["directory"])
    assert directory.parent == tmp_path / "runs" and directory.name.startswith("toy-")
    trials = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in trials] == [0, 1, 2, 3, 4]
    assert all(t["state"] == "complete" for t in trials)
    best = max(trials, key=lambda t: t["metrics"]["accuracy"])
    assert summary["best"]["number"] == best["number"]
    assert json.loads((directory / "best_arch.json").read_text()) == best["arch"]
    assert json.loads((directory / "summary.json").read_text()) == summary
    config = yaml.safe_load((directory / "config.yaml").read_text())
    assert config["space"] == {"name": "toy_space", "width": 4}
    events = [json.loads(line)["event"] for line in (directory / "events.jsonl").read_text().splitlines()]
    assert events[0] == "run_start" and events[-1] == "run_end"
    assert events.count("trial_end") == 5 and events.count("epoch_end") == 10


def test_lifecycle_hooks_are_called_in_order(toy_site, tmp_path, monkeypatch, toy_experiment):
    toy_site("toy")
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("TOY_EVENTS", str(log))
    build_search(load_experiment(toy_experiment(budget={"trials": 2})), console=False).run().to_json()
    events = [(e["event"], e.get("number"), e.get("epoch")) for e in read_jsonl(log)]

    def per_trial(n):
        return [("trial_start", n, None), ("epoch_end", n, 0), ("epoch_end", n, 1), ("trial_end", n, None)]

    assert events == [("run_start", None, None), *per_trial(0), *per_trial(1), ("run_end", None, None)]


def test_same_seed_gives_identical_trials(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment()
    runs = [build_search(load_experiment(path), console=False).run().to_json() for _ in range(2)]
    records = [[(t["arch"], t["metrics"]) for t in read_jsonl(Path(s["directory"]) / "trials.jsonl")] for s in runs]
    assert records[0] == records[1]
    other = build_search(load_experiment(path, ["seed=8"]), console=False).run().to_json()
    assert [t["arch"] for t in read_jsonl(Path(other["directory"]) / "trials.jsonl")] != [a for a, _ in records[0]]


def test_multi_objective_summary_has_the_pareto_front(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(objective=["accuracy", "cost"], direction=["maximize", "minimize"])
    summary = build_search(load_experiment(path), console=False).run().to_json()
    front = summary["pareto_front"]
    assert front
    values = [(t["metrics"]["accuracy"], -t["metrics"]["cost"]) for t in front]
    for a in values:
        assert not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in values)
    # and it is the whole front: every trial that no other trial dominates, found by brute force
    trials = read_jsonl(Path(summary["directory"]) / "trials.jsonl")
    scores = {t["number"]: (t["metrics"]["accuracy"], -t["metrics"]["cost"]) for t in trials}
    undominated = {
        n for n, a in scores.items() if not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in scores.values())
    }
    assert {t["number"] for t in front} == undominated


def test_time_budget_stops_the_search(toy_site, toy_experiment):
    toy_site("toy")
    path = toy_experiment(budget={"seconds": 0.3}, trainer={"name": "toy_trainer", "sleep_at": 0, "sleep": 0.5})
    summary = build_search(load_experiment(path), console=False).run().to_json()
    assert summary["trials"] == 1


def test_resume_after_sigkill_loses_and_redoes_nothing(toy_site, tmp_path, hbk, toy_experiment):
    site = toy_site("toy")
    path = toy_experiment(trainer={"name": "toy_trainer", "sleep_at": 3, "sleep": 60})
    marker = tmp_path / "sleeping"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    env.update(PYTHONPATH=str(site), TOY_SLEEP_MARKER=str(marker))
    process = subprocess.Popen(
        [sys.executable, "-m", "hyperbox.kernel.cli", "run", str(path), "-q"], env=env, cwd=tmp_path
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (directory,) = (tmp_path / "runs").iterdir()
    before = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in before] == [0, 1, 2]
    assert not (directory / "summary.json").exists()

    result = hbk("run", "--resume", str(directory), "-q", site=site, cwd=tmp_path, env={"TOY_NO_SLEEP": "1"})
    assert result.returncode == 0, result.stderr
    after = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in after] == [0, 1, 2, 3, 4]
    assert after[:3] == before
    # the resumed run proposes exactly what an uninterrupted run proposes
    reference = build_search(load_experiment(toy_experiment()), console=False).run().to_json()
    expected = read_jsonl(Path(reference["directory"]) / "trials.jsonl")
    assert [t["arch"] for t in after] == [t["arch"] for t in expected]
    assert json.loads((directory / "summary.json").read_text())["trials"] == 5


def test_fixed_mutator_evaluates_a_given_architecture(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"op": 3, "depth": 2, "lr": 0.01}))
    path = toy_experiment(mutator={"name": "fixed", "arch": str(arch)}, budget={"trials": 1})
    summary = build_search(load_experiment(path), console=False).run().to_json()
    assert summary["best"]["arch"] == {"op": 3, "depth": 2, "lr": 0.01}
    assert summary["best"]["metrics"]["accuracy"] == pytest.approx(3.2)


def test_trainer_hyperparameters_are_searched_with_the_architecture(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(hparams={"trainer.epochs": {"type": "int", "low": 1, "high": 3}})
    summary = build_search(load_experiment(path), console=False).run().to_json()
    directory = Path(summary["directory"])
    trials = read_jsonl(directory / "trials.jsonl")
    epochs = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    for trial in trials:
        reported = [e for e in epochs if e["event"] == "epoch_end" and e["trial"] == trial["number"]]
        assert len(reported) == trial["arch"]["trainer.epochs"]  # each trial trained as decided
    assert len({t["arch"]["trainer.epochs"] for t in trials}) > 1
    assert summary["best"]["hparams"] == {"trainer.epochs": summary["best"]["arch"]["trainer.epochs"]}


def test_a_diverged_objective_fails_its_trial_and_never_becomes_the_best(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(estimators=[{"name": "toy_score", "scale": float("nan")}])
    summary = build_search(load_experiment(path), console=False).run().to_json()
    trials = read_jsonl(Path(summary["directory"]) / "trials.jsonl")
    assert [t["state"] for t in trials] == ["failed"] * 5
    assert "objective 'accuracy' is nan" in trials[0]["error"]
    assert summary["best"] is None and summary["status"] == "complete"


def test_a_run_that_cannot_start_leaves_no_directory(toy_site, tmp_path, toy_experiment):
    from hyperbox.kernel import ConfigError

    toy_site("toy")
    path = toy_experiment(storage={"url": "toy://{run_dir}", "bogus": 1})
    search = build_search(load_experiment(path), console=False)  # nothing is created before it starts
    with pytest.raises(ConfigError, match="storage"):
        search.run()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_ties_go_to_the_earlier_trial_in_the_summary_and_the_best_files(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(space={"name": "toy_space", "width": 1}, budget={"trials": 12})
    summary = build_search(load_experiment(path), console=False).run().to_json()
    trials = read_jsonl(Path(summary["directory"]) / "trials.jsonl")
    top = max(t["metrics"]["accuracy"] for t in trials)
    first = min(t["number"] for t in trials if t["metrics"]["accuracy"] == top)
    assert summary["best"]["number"] == first
    assert json.loads((Path(summary["directory"]) / "best_arch.json").read_text()) == trials[first]["arch"]
