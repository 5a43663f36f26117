"""Plain hyper-parameters as a search space."""

import pytest

from hyperbox.hpo.mutator import OptunaMutator
from hyperbox.kernel import Categorical, ConfigError, FloatRange, IntRange, SearchSpace, Subset
from hyperbox.kernel.hparams import HyperParameters

SPEC = {
    "lr": {"type": "float", "low": "1e-4", "high": 1e-1, "log": True},  # YAML reads 1e-4 as a string
    "optimizer": {"choices": ["sgd", "adam"]},
    "layers": {"type": "int", "low": 1, "high": 4},
    "activation": ["relu", "gelu", "silu"],
    "augment": {"type": "subset", "choices": ["flip", "crop", "jitter"], "k": 2},
}


def test_specs_become_kernel_domains():
    space = SearchSpace.of(HyperParameters(SPEC))
    assert space["lr"] == FloatRange(1e-4, 1e-1, log=True)
    assert space["optimizer"] == Categorical(2, labels=("sgd", "adam"))
    assert space["layers"] == IntRange(1, 4)
    assert space["activation"].n == 3
    assert space["augment"] == Subset(3, 2, labels=("flip", "crop", "jitter"))


def test_values_are_the_chosen_labels():
    params = HyperParameters(SPEC)
    assert params.values()["optimizer"] is None
    SearchSpace.of(params).apply({"lr": 0.01, "optimizer": 1, "layers": 3, "activation": 2, "augment": [0, 2]})
    assert params.values() == {
        "lr": 0.01,
        "optimizer": "adam",
        "layers": 3,
        "activation": "silu",
        "augment": ["flip", "jitter"],
    }


def test_optuna_searches_hyper_parameters():
    params = HyperParameters(SPEC)
    mutator = OptunaMutator(params, seed=0)
    for _ in range(3):
        mutator.reset()
        values = params.values()
        assert values["optimizer"] in ("sgd", "adam") and 1e-4 <= values["lr"] <= 1e-1
        mutator.observe(mutator.space.to_json(mutator._cache), {"accuracy": values["lr"]})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lr": {"type": "flaot", "low": 0, "high": 1}}, "hyper-parameter 'lr': type 'flaot' is not one of"),
        ({"lr": {"type": "float", "low": 0, "hgih": 1}}, "hyper-parameter 'lr': unknown field(s) ['hgih']"),
        ({"lr": {"type": "float", "low": 0}}, "hyper-parameter 'lr': missing 'high'"),
        ({"lr": {"type": "float", "low": "tiny", "high": 1}}, "hyper-parameter 'lr': 'low' must be a number"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "log": "yes"}}, "hyper-parameter 'lr': 'log' must be"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "log": True}}, "hyper-parameter 'lr': FloatRange: log scale"),
        ({"n": {"type": "int", "low": 1.5, "high": 3}}, "hyper-parameter 'n': 'low' must be an integer"),
        ({"opt": {"choices": []}}, "hyper-parameter 'opt': 'choices' must be a non-empty list"),
        ({"opt": 3}, "hyper-parameter 'opt': expected a mapping"),
        ({}, "expected a non-empty mapping"),
    ],
)
def test_errors_name_the_key(spec, message):
    with pytest.raises(ConfigError) as error:
        HyperParameters(spec)
    assert message in str(error.value)
