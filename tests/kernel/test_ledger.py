"""Ledgers: the local budget, and storages from plugins that several runs share (toy storage)."""

import json
import time

import pytest
import yaml

from hyperbox.kernel import ConfigError
from hyperbox.kernel.compose import build_search, resume_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl
from hyperbox.kernel.ledger import Budget, Claim, LocalLedger
from hyperbox.kernel.plugins import PluginManager
from hyperbox.kernel.trial import TrialRecord

#: four one-epoch trials
SHORT = {"trainer": {"name": "toy_trainer", "epochs": 1}, "budget": {"trials": 4}}


def finished(number, state="complete"):
    return TrialRecord(number=number, arch={}, seed=0, state=state, duration_s=1.0)


def test_local_ledger_counts_trials_from_its_history():
    ledger = LocalLedger(Budget(trials=3), history=[finished(0), finished(1, "pruned")])
    assert [t.number for t in ledger.others()] == [0, 1] and ledger.others() == []
    assert ledger.claim() == Claim(2)
    ledger.finish(finished(2))
    assert ledger.claim() is None


def test_local_ledger_counts_the_seconds_of_its_history_too():
    assert LocalLedger(Budget(seconds=1.5), history=[finished(0), finished(1)]).claim() is None
    ledger = LocalLedger(Budget(seconds=0.2))
    assert ledger.claim() == Claim(0)
    time.sleep(0.25)
    assert ledger.claim() is None


def test_runs_on_one_storage_share_the_budget_and_learn_each_others_trials(
    toy_site, tmp_path, monkeypatch, toy_experiment
):
    toy_site("toy")
    first = build_search(
        load_experiment(toy_experiment(**SHORT, storage="toy://book")),
        console=False,
        progress=False,
    )
    observed = []
    first.run()
    factory = PluginManager().registry.get("storages", "toy").load()
    ledger = factory("toy://book", study=None)
    assert ledger.experiment["storage"] == "toy://book"
    joiner = build_search(
        load_experiment(toy_experiment(**SHORT)),
        console=False,
        progress=False,
        ledger=ledger,
        worker=1,
    )
    monkeypatch.setattr(joiner.mutator, "observe", lambda arch, metrics: observed.append(arch))
    summary = joiner.run().to_json()
    assert summary["complete"] == 4 and len(observed) == 4  # no budget left: it learnt the first run's trials
    assert read_jsonl(joiner.directory / "trials.jsonl") == []
    assert [t["number"] for t in read_jsonl(first.directory / "trials.jsonl")] == [0, 1, 2, 3]
    assert yaml.safe_load((first.directory / "config.yaml").read_text())["storage"] == "toy://book"


def test_a_storage_url_can_name_the_run_directory(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    run = build_search(
        load_experiment(toy_experiment(**SHORT, storage="toy://{run_dir}/book")),
        console=False,
    )
    result = run.run()
    assert run.storage_url == f"toy://{run.directory.resolve()}/book"
    assert result.to_json()["complete"] == 4


def test_workers_propose_differently_by_their_index(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(**SHORT)

    def archs(worker):
        run = build_search(load_experiment(path), console=False, progress=False, worker=worker)
        return [t["arch"] for t in read_jsonl(run.run().directory / "trials.jsonl")]

    assert archs(0) == archs(0) != archs(1)


def test_a_storage_no_plugin_handles_is_a_one_line_error_before_any_directory(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    path = toy_experiment(**SHORT, storage="nosuch://place")
    with pytest.raises(ConfigError, match=r"no plugin stores 'nosuch' URLs \(registered: .*toy.*\); the hpo plugin"):
        build_search(load_experiment(path), console=False)
    assert not (tmp_path / "runs").exists()


def test_a_shared_run_is_resumed_by_joining_not_by_resume(toy_site, tmp_path, toy_experiment):
    toy_site("toy")
    run = build_search(
        load_experiment(toy_experiment(**SHORT, storage="toy://resumed")),
        console=False,
    )
    run.start()
    run.close()  # started, no trial run
    with pytest.raises(ConfigError, match="hbk worker"):
        resume_search(run.directory, console=False)


def finish_two_workers(toy_experiment, tmp_path, monkeypatch, first_host=None):
    """A run on a toy storage runs every trial (on ``first_host``, if given); a second worker joins
    after, learns them, and ends."""
    import hyperbox.kernel.engine

    keeping = {"name": "toy_trainer", "weights": True}
    first = build_search(
        load_experiment(toy_experiment(budget={"trials": 4}, storage="toy://weights", trainer=keeping)),
        console=False,
    )
    with monkeypatch.context() as patch:
        if first_host is not None:
            patch.setattr(hyperbox.kernel.engine, "HOST", first_host)
        first.run()
    ledger = PluginManager().registry.get("storages", "toy").load()("toy://weights", study=None)
    second = build_search(
        load_experiment(toy_experiment(output_dir=str(tmp_path / "second"), trainer={"name": "toy_trainer"})),
        console=False,
        ledger=ledger,
        worker=1,
    )
    second.start()
    return first, second.close()


def test_a_worker_whose_best_trial_ran_elsewhere_copies_its_weights(toy_site, tmp_path, toy_experiment, monkeypatch):
    import torch

    toy_site("toy")
    first, result = finish_two_workers(toy_experiment, tmp_path, monkeypatch)
    assert result.trials and all(t.directory == str(first.directory.resolve()) for t in result.trials)
    directory = result.directory
    summary = json.loads((directory / "summary.json").read_text())
    assert json.loads((directory / "best_arch.json").read_text()) == summary["best"]["arch"]
    weights = torch.load(directory / "best_weights.pt", weights_only=True)
    assert weights == {"trained_by": summary["best"]["number"]}  # the best trial's own, copied
    assert summary["best_weights"] == str(directory / "best_weights.pt")


def test_weights_out_of_reach_are_never_replaced_by_another_trials(
    toy_site, tmp_path, toy_experiment, hbk, monkeypatch
):
    site = toy_site("toy")
    first, result = finish_two_workers(toy_experiment, tmp_path, monkeypatch, first_host="another-machine")
    directory = result.directory
    summary = json.loads((directory / "summary.json").read_text())
    assert not (directory / "best_weights.pt").exists()
    where = f"another-machine:{first.directory.resolve() / 'best_weights.pt'}"
    assert summary["best_weights"] == where
    exported = hbk("export", str(directory), "-o", str(tmp_path / "out"), site=site)
    assert exported.returncode == 2
    assert f"the weights of the best trial, {summary['best']['number']}, are in {where}" in exported.stderr
