"""Epoch checkpoints: a training stopped after an epoch resumes and ends with an uninterrupted run's weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperbox.nas import ops
from hyperbox.nas.datasets import synthetic
from hyperbox.nas.mutators import GDASMutator
from hyperbox.nas.spaces import OperationSpace, ValueSpace
from hyperbox.nas.trainers import DartsTrainer, OneShotTrainer, StandaloneTrainer

torch.set_num_threads(1)


class _Stop(BaseException):
    """Stands for a kill between two epochs (not an Exception: nothing handles it as a failed training)."""


class _Context:
    def __init__(self, directory, *, resumed: bool = False, stop_after: int | None = None, trial=None) -> None:
        self.directory, self.seed, self.resumed, self.device, self.trial = directory, 0, resumed, "cpu", trial
        self.stop_after, self.epochs = stop_after, []
        self.log = type("Log", (), {"info": lambda self, *a, **k: None})()
        directory.mkdir(exist_ok=True)

    def state_path(self, name: str):
        return self.directory / name

    def report(self, epoch: int, metrics: dict) -> None:
        self.epochs.append(epoch)
        if epoch == self.stop_after:
            raise _Stop


def _supernet() -> nn.Module:
    torch.manual_seed(0)
    width = ValueSpace([16, 32], key="width")
    return nn.Sequential(
        nn.Flatten(), ops.Linear(16, width), ops.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.2), ops.Linear(width, 4)
    )


def _darts_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OperationSpace([nn.Linear(16, 16), nn.Sequential(nn.Linear(16, 16), nn.Tanh())], key="op"),
                         nn.Linear(16, 4))  # fmt: skip


def _data():
    return synthetic(num_samples=160, num_classes=4, input_shape=(16,), seed=0, val_fraction=0.25, test_fraction=0)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, b.state_dict()[k]) for k, x in a.state_dict().items())


def test_oneshot_resumes_from_its_last_epoch_with_the_uninterrupted_weights(tmp_path):
    trainer = OneShotTrainer(epochs=4, batch_size=16, sampling="sandwich", sandwich_n=1)
    whole = _supernet()
    trainer.fit(whole, None, _data(), _Context(tmp_path / "whole"))

    stopped = tmp_path / "stopped"
    with pytest.raises(_Stop):
        trainer.fit(_supernet(), None, _data(), _Context(stopped, stop_after=1))
    assert (stopped / "supernet.last.pt").is_file() and not (stopped / "supernet.pt").exists()
    torch.manual_seed(123)  # a new process: its generators start elsewhere
    resumed, context = _supernet(), _Context(stopped, resumed=True)
    trainer.fit(resumed, None, _data(), context)
    assert context.epochs == [2, 3]  # from the epoch after the checkpoint
    assert _same(resumed, whole)
    assert (stopped / "supernet.pt").is_file() and not (stopped / "supernet.last.pt").exists()


def test_checkpoint_every_two_epochs_resumes_from_the_last_even_one(tmp_path):
    trainer = OneShotTrainer(epochs=4, batch_size=16, checkpoint_every=2)
    with pytest.raises(_Stop):
        trainer.fit(_supernet(), None, _data(), _Context(tmp_path, stop_after=2))
    context = _Context(tmp_path, resumed=True)
    trainer.fit(_supernet(), None, _data(), context)
    assert context.epochs == [2, 3]  # epoch 2 ended without a checkpoint: done again


def test_gdas_search_resumes_with_the_uninterrupted_alphas_and_weights(tmp_path):
    trainer = DartsTrainer(epochs=3, batch_size=20, alpha_lr=0.05)
    whole = _darts_net()
    whole_mutator = GDASMutator(whole, seed=0)
    trainer.fit(whole, whole_mutator, _data(), _Context(tmp_path / "whole"))

    with pytest.raises(_Stop):
        model = _darts_net()
        trainer.fit(model, GDASMutator(model, seed=0), _data(), _Context(tmp_path / "stopped", stop_after=0))
    resumed = _darts_net()
    resumed_mutator = GDASMutator(resumed, seed=0)
    trainer.fit(resumed, resumed_mutator, _data(), _Context(tmp_path / "stopped", resumed=True))
    assert _same(resumed, whole)
    assert all(torch.equal(a, b) for a, b in zip(resumed_mutator.arch_parameters(), whole_mutator.arch_parameters()))


def test_checkpoint_every_must_be_a_positive_number_of_epochs():
    with pytest.raises(ValueError, match="checkpoint_every=0"):
        OneShotTrainer(checkpoint_every=0)


def _trial(number: int = 0):
    return type("Trial", (), {"number": number})()


def test_a_stand_alone_trial_resumes_only_the_architecture_it_checkpointed(tmp_path):
    trainer = StandaloneTrainer(epochs=3, batch_size=16, checkpoint_every=1)
    with pytest.raises(_Stop):
        trainer.trial(_supernet(), {"width": 0}, _data(), _Context(tmp_path, stop_after=0, trial=_trial()))
    assert (tmp_path / "trial-0.last.pt").is_file()  # a stop between epochs (a kill) keeps it
    same = _Context(tmp_path, resumed=True, stop_after=1, trial=_trial())
    with pytest.raises(_Stop):
        trainer.trial(_supernet(), {"width": 0}, _data(), same)
    assert same.epochs == [1]  # resumed after epoch 0
    other = _Context(tmp_path, resumed=True, trial=_trial())  # the resumed search proposes another architecture
    trainer.trial(_supernet(), {"width": 1}, _data(), other)
    assert other.epochs == [0, 1, 2]  # trained from scratch, not from the other architecture's weights
    assert not (tmp_path / "trial-0.last.pt").exists()


def test_a_pruned_or_failed_trial_leaves_no_checkpoint(tmp_path):
    from hyperbox.kernel import TrialPruned

    class _Pruning(_Context):
        def report(self, epoch: int, metrics: dict) -> None:
            raise TrialPruned(f"pruned at epoch {epoch}")

    trainer = StandaloneTrainer(epochs=3, batch_size=16, checkpoint_every=1)
    with pytest.raises(TrialPruned):
        trainer.trial(_supernet(), {"width": 0}, _data(), _Pruning(tmp_path, trial=_trial()))
    assert not (tmp_path / "trial-0.last.pt").exists()
