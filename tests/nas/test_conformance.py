"""Our trainers, estimators and the MCTS and MOEA/D mutators honour the kernel's conformance suites."""

from __future__ import annotations

import functools

import torch
from torch import nn

from hyperbox.kernel.testing import EstimatorTestCase, MutatorTestCase, TrainerTestCase
from hyperbox.nas import ops
from hyperbox.nas.datasets import digits
from hyperbox.nas.estimators import AccuracyEstimator, FlopsEstimator, LatencyEstimator, ParamsEstimator
from hyperbox.nas.mutators import DartsMutator, MCTSMutator, MOEADMutator
from hyperbox.nas.spaces import OperationSpace, ValueSpace
from hyperbox.nas.subnet import build_subnet
from hyperbox.nas.trainers import DartsTrainer, OneShotTrainer, StandaloneTrainer

torch.set_num_threads(1)


class TestMCTSConformance(MutatorTestCase):
    mutator_factory = MCTSMutator


class TestMCTSNarrowestTreeConformance(MutatorTestCase):
    """One value per node of a range or a subset, and no exploration bonus."""

    mutator_factory = functools.partial(MCTSMutator, max_node_space=1, exploration=0.0)


class TestMOEADConformance(MutatorTestCase):
    mutator_factory = functools.partial(MOEADMutator, divisions=2, n_neighbors=2)


class TestMOEADTwoObjectivesConformance(MutatorTestCase):
    """Accuracy against size, with the penalty-based decomposition."""

    def create_mutator(self, model, seed=0):
        mutator = MOEADMutator(model, seed=seed, divisions=2, decomposition="pbi")
        mutator.set_objectives(["accuracy", "params"], ["maximize", "minimize"])
        return mutator


def mlp_space() -> nn.Module:
    """A digits MLP whose hidden width is searched."""
    width = ValueSpace([16, 32], key="width")
    return nn.Sequential(nn.Flatten(), ops.Linear(64, width), ops.BatchNorm1d(width), nn.ReLU(), ops.Linear(width, 10))


def operation_space() -> nn.Module:
    """A digits MLP whose first layer is one of two operations (for differentiable search)."""
    candidates = [nn.Linear(64, 16), nn.Sequential(nn.Linear(64, 16), nn.Tanh())]
    return nn.Sequential(nn.Flatten(), OperationSpace(candidates, key="op"), nn.ReLU(), nn.Linear(16, 10))


def small_digits():
    return digits(batch_size=128)


class _OnDigits(TrainerTestCase):
    """The MLP space on digits; subclasses give the trainer."""

    def create_space(self):
        return mlp_space()

    def create_data(self):
        return small_digits()


class TestStandaloneTrainer(_OnDigits):
    def create_trainer(self):
        return StandaloneTrainer(epochs=2)


class TestOneShotTrainer(_OnDigits):
    def create_trainer(self):
        return OneShotTrainer(epochs=1, sampling="sandwich")


class TestDartsTrainer(_OnDigits):
    def create_trainer(self):
        return DartsTrainer(epochs=1, batch_size=128)

    def create_space(self):
        return operation_space()

    def create_mutator(self, model):
        return DartsMutator(model, seed=0)


class _TrainedSubnet:
    """A plain subnet of the MLP space, as the stand-alone trainer returns it."""

    def create_model(self):
        torch.manual_seed(0)
        return build_subnet(mlp_space(), {"width": 1})

    def create_data(self):
        return small_digits()


class TestAccuracyEstimator(_TrainedSubnet, EstimatorTestCase):
    estimator_factory = AccuracyEstimator


class TestTestAccuracyEstimator(_TrainedSubnet, EstimatorTestCase):
    def create_estimator(self):
        return AccuracyEstimator(split="test")


class TestAccuracyOfASupernetSubnet(EstimatorTestCase):
    """A subnet cut from a supernet is measured with its BatchNorm statistics recalibrated."""

    estimator_factory = AccuracyEstimator

    def create_model(self):
        torch.manual_seed(0)
        return OneShotTrainer().trial(mlp_space(), {"width": 0}, None, None)

    def create_data(self):
        return small_digits()


class TestParamsEstimator(_TrainedSubnet, EstimatorTestCase):
    estimator_factory = ParamsEstimator


class TestFlopsEstimator(_TrainedSubnet, EstimatorTestCase):
    estimator_factory = FlopsEstimator


class TestLatencyEstimator(_TrainedSubnet, EstimatorTestCase):
    deterministic = False  # a timing

    def create_estimator(self):
        return LatencyEstimator(repeats=3, warmup=1)
