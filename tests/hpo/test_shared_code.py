"""Code the hpo plugin shares instead of repeating: the kernel's unknown-name message, one scoring
of short trials for both autoHyper searches, one table of Optuna end states."""

import pytest

from hyperbox.hpo import _ledger, mutator
from hyperbox.hpo._components import PRUNERS, SAMPLERS, make_pruner, sampler_factory
from hyperbox.hpo.autohyper import _search, _trust_region
from hyperbox.hpo.autohyper._knowledge import score_trained
from hyperbox.kernel import ConfigError
from hyperbox.kernel.registry import unknown_name_message


def test_unknown_names_use_the_kernels_message():
    with pytest.raises(ConfigError) as error:
        sampler_factory("tpee", None)
    assert str(error.value) == unknown_name_message("sampler", "tpee", SAMPLERS)
    with pytest.raises(ConfigError) as error:
        make_pruner("medain", None)
    assert str(error.value) == unknown_name_message("pruner", "medain", PRUNERS)


def test_both_searches_score_a_short_trial_with_one_function():
    assert score_trained(object(), metric=lambda model: 0.25) == 0.25
    assert score_trained(iter(["a", "bb"]), metric=len) == pytest.approx(1.5)  # epoch snapshots: the mean
    assert _search.score_trained is _trust_region.score_trained is score_trained


def test_end_states_are_defined_once():
    assert _ledger.END_STATES is mutator.END_STATES
