"""The run directory's best files stay one trial's after a kill at any point of their writing."""

import json

import pytest

from hyperbox.kernel.rundir import BEST_MARK_FILE, RunDirectory
from hyperbox.kernel.trial import TrialRecord


class Weights:
    """Stands for a trained model: its ``state_dict`` says which trial trained it."""

    def __init__(self, number):
        self.number = number

    def state_dict(self):
        return {"trained_by": self.number}


def record(number, arch):
    return TrialRecord(number, arch, seed=0, state="complete", metrics={"accuracy": number})


def weights_in(directory):
    import torch

    path = directory.path / "best_weights.pt"
    return torch.load(path, weights_only=True)["trained_by"] if path.is_file() else None


@pytest.fixture
def directory(tmp_path):
    directory = RunDirectory(tmp_path)
    directory.save_best(record(0, {"k": 0}), Weights(0), lambda a, b: False)
    return directory


def test_the_best_files_name_their_trial(directory):
    assert json.loads((directory.path / BEST_MARK_FILE).read_text())["number"] == 0
    assert directory.best_weights_of(0) is not None
    assert directory.best_weights_of(3) is None  # same architecture, another trial


@pytest.mark.parametrize("window", ["mark removed", "weights removed", "weights written", "arch written"])
def test_a_kill_while_writing_never_leaves_one_trials_weights_under_another(directory, window, monkeypatch):
    """Kill the write of trial 1 (same architecture as trial 0, the worst case) at each step."""
    steps = {"mark removed": 1, "weights removed": 2, "weights written": 3, "arch written": 4}[window]
    import hyperbox.kernel.rundir as rundir

    done = []
    real_unlink, real_save, real_write = type(directory.path).unlink, rundir.save_state_dict, rundir.write_json

    def step(action):
        def run(*args, **kwargs):
            if len(done) >= steps:
                raise KeyboardInterrupt
            done.append(action)
            return action(*args, **kwargs)

        return run

    monkeypatch.setattr(type(directory.path), "unlink", step(real_unlink))
    monkeypatch.setattr(rundir, "save_state_dict", step(real_save))
    monkeypatch.setattr(rundir, "write_json", step(real_write))
    new_best = record(1, {"k": 0})
    with pytest.raises(KeyboardInterrupt):
        directory.save_best(new_best, Weights(1), lambda a, b: False)
    monkeypatch.undo()
    directory.repair_best(new_best)  # what a resumed or closing search does
    assert json.loads((directory.path / "best_arch.json").read_text()) == new_best.arch
    found = weights_in(directory)
    assert found in (1, None)  # the new best's weights, or none: never trial 0's
    assert (directory.best_weights_of(new_best.number) is not None) == (found == 1)


def test_workers_sharing_a_directory_never_replace_a_better_best_not_yet_recorded(tmp_path):
    (tmp_path / "config.yaml").write_text("name: shared\n")
    first, second = RunDirectory(tmp_path, shared=True), RunDirectory(tmp_path, shared=True)

    def better(a, b):
        return (a.metrics["accuracy"], -a.number) > (b.metrics["accuracy"], -b.number)

    first.save_best(record(3, {"k": 3}), Weights(3), better)  # saved; trials.jsonl does not hold it yet
    second.save_best(record(1, {"k": 1}), Weights(1), better)  # worse (accuracy 1 < 3): must not replace it
    assert json.loads((tmp_path / BEST_MARK_FILE).read_text())["number"] == 3
    assert weights_in(first) == 3
