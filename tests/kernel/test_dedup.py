"""Deduplication: an architecture evaluated already in a search is not trained again."""

import json

import pytest

from hyperbox.kernel import Categorical, ConfigError, FloatRange, Mutator, Search, SearchWarning, search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl
from hyperbox.kernel.testing import ToyMutable, ToySpace


def small_space():
    """Six architectures."""
    return ToySpace([ToyMutable("op", Categorical(3, labels=("a", "b", "c"))), ToyMutable("wide", Categorical(2))])


def count_evaluations(calls):
    def objective(trial):
        calls.append(json.dumps(trial.arch, sort_keys=True))
        return trial.values["wide"] + 0.1 * "abc".index(trial.values["op"])

    return objective


class Recording(Mutator):
    """Random sampling that records every result it is given."""

    def __init__(self, model, *, seed=None):
        super().__init__(model, seed=seed)
        self.results = []

    def sample_search(self):
        return self.space.sample(self.rng)

    def observe(self, arch, metrics):
        self.results.append((dict(arch), dict(metrics)))


def test_each_architecture_is_evaluated_once_and_a_small_space_ends_the_search():
    calls = []
    with pytest.warns(SearchWarning, match="every one of the 6 architectures is evaluated"):
        result = search(small_space(), "random", objective=count_evaluations(calls), budget=20, seed=0)
    assert len(calls) == len(set(calls)) == 6  # the whole space, once each
    assert [t.number for t in result.trials] == list(range(6))
    assert result.status == "complete"


class Stuck(Mutator):
    """Proposes one architecture over and over."""

    def sample_search(self):
        return {"lr": 0.5}


def test_a_mutator_that_proposes_nothing_new_ends_the_search_saying_so():
    space = ToySpace([ToyMutable("lr", FloatRange(0.0, 1.0))])  # endless: only the mutator can end it
    with pytest.warns(SearchWarning, match=r"proposed only architectures evaluated already \(100 in a row\)"):
        result = search(space, Stuck, objective=lambda trial: 1.0, budget=5)
    assert len(result.trials) == 1 and len(result.trials[0].skipped) == 0


def test_without_dedup_random_search_evaluates_an_architecture_again():
    calls = []
    search(small_space(), "random", objective=count_evaluations(calls), budget=20, seed=0, dedup=False)
    assert len(calls) == 20 and len(set(calls)) <= 6


def test_a_skipped_proposal_gives_the_mutator_the_earlier_result():
    space = small_space()
    mutator = Recording(space, seed=1)
    result = Search(space, mutator, objective=count_evaluations([]), budget=5, seed=1).run()
    skipped = [arch for trial in result.trials for arch in trial.skipped]
    assert skipped, "a space of six gives repeats within five random proposals"
    assert len(mutator.results) == len(result.trials) + len(skipped)
    by_arch = {json.dumps(t.arch, sort_keys=True): t.metrics for t in result.trials}
    for arch, metrics in mutator.results:
        assert by_arch[json.dumps(space_json(space, arch), sort_keys=True)] == metrics


def space_json(space, arch):
    from hyperbox.kernel import SearchSpace

    return SearchSpace.of(space).to_json(arch)


def test_a_resumed_search_replays_the_skipped_proposals(tmp_path):
    """Interrupted after 3 trials and resumed, it proposes what one uninterrupted search proposes."""
    whole = search(small_space(), "random", objective=count_evaluations([]), budget=5, seed=7)
    first = search(small_space(), "random", objective=count_evaluations([]), budget=3, seed=7, directory=tmp_path)
    assert any(t.skipped for t in first.trials)  # seed 7 repeats in trials 1 to 4
    resumed = search(
        small_space(), "random", objective=count_evaluations([]), budget=5, seed=7, directory=tmp_path, resume=True
    )
    assert [t.arch for t in resumed.trials] == [t.arch for t in whole.trials]
    assert [t.skipped for t in resumed.trials] == [t.skipped for t in whole.trials]
    recorded = read_jsonl(tmp_path / "trials.jsonl")
    assert [r["skipped"] for r in recorded] == [t.skipped for t in whole.trials]


def test_ask_returns_none_once_nothing_new_is_proposed_and_the_claim_is_not_spent():
    study = Search(small_space(), "random", budget=10, seed=0)
    told = 0
    with pytest.warns(SearchWarning):
        while (trial := study.ask()) is not None:
            study.tell(trial, 1.0)
            told += 1
    assert told == 6
    assert study.ask() is None
    assert [t.number for t in study.close().trials] == list(range(6))


def test_dedup_is_true_or_false(tmp_path):
    with pytest.raises(ConfigError, match="dedup: expected true or false"):
        Search(small_space(), "random", budget=2, dedup="no")
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("dataset: digits\nspace: demo\nmutator: random\ntrainer: standalone\ndedup: maybe\n")
    with pytest.raises(ConfigError, match="exp.yaml: dedup: expected bool, got 'maybe'"):
        load_experiment(experiment)
    experiment.write_text("dataset: digits\nspace: demo\nmutator: random\ntrainer: standalone\ndedup: false\n")
    assert load_experiment(experiment).dedup is False


def test_architectures_that_differ_only_in_inactive_decisions_are_one():
    """A wide second layer does not make another architecture when there is no second layer."""
    depth = ToyMutable("depth", Categorical(2, labels=(1, 2)))
    second = ToyMutable("width1", Categorical(2, labels=(8, 16)))
    second.conditions = (("depth", frozenset({1})),)
    space = ToySpace([depth, second])
    with pytest.warns(SearchWarning):
        result = search(space, "random", objective=lambda trial: 1.0, budget=10, seed=0)
    shown = sorted(json.dumps(trial.values, sort_keys=True) for trial in result.trials)
    assert shown == ['{"depth": 1}', '{"depth": 2, "width1": 16}', '{"depth": 2, "width1": 8}']


def test_a_repeat_of_a_running_trial_is_not_trained_and_learns_its_result_when_it_ends():
    space = small_space()
    mutator = Recording(space, seed=0)
    study = Search(space, mutator, budget=12, seed=0)
    trained = []
    with pytest.warns(SearchWarning, match="every one of the 6"):
        while batch := [trial for trial in (study.ask() for _ in range(4)) if trial is not None]:
            for trial in batch:
                trained.append(json.dumps(trial.arch, sort_keys=True))
                study.tell(trial, 1.0 + len(trained))
    assert len(trained) == len(set(trained)) == 6
    result = study.close()
    skipped = sum(len(trial.skipped) for trial in result.trials)
    assert len(mutator.results) == 6 + skipped  # every skipped repeat got a result


class Pruning(Recording):
    """Random sampling that records what it is told of pruned and failed proposals too."""

    def discard(self, arch, state):
        self.results.append((dict(arch), state))


def test_a_repeat_of_a_pruned_or_failed_trial_is_given_its_result_and_not_run_again():
    from hyperbox.kernel import TrialPruned

    space = small_space()
    mutator = Pruning(space, seed=3)
    attempts = []

    def objective(trial):
        attempts.append(json.dumps(trial.values, sort_keys=True))
        if trial.values["op"] == "a":
            raise TrialPruned()
        if trial.values["op"] == "b":
            raise RuntimeError("shapes do not fit")  # it would raise again
        return 1.0

    with pytest.warns(SearchWarning, match="every one of the 6"):
        result = Search(space, mutator, objective=objective, budget=14, seed=3, max_consecutive_failures=None).run()
    assert len(attempts) == len(set(attempts)) == 6
    told = [result for _, result in mutator.results]
    assert "pruned" in told and "failed" in told
    assert len(told) == 6 + sum(len(t.skipped) for t in result.trials)


def test_a_trial_left_open_when_its_search_closed_is_tried_again(tmp_path):
    first = Search(small_space(), "random", budget=6, seed=0, directory=tmp_path)
    trial = first.ask()
    first.close()  # never told: recorded as failed, but it never ran
    resumed = Search(
        small_space(), "random", objective=lambda t: 1.0, budget=7, seed=0, directory=tmp_path, resume=True
    )
    result = resumed.run()
    complete = [t.arch for t in result.trials if t.state == "complete"]
    assert trial.arch in complete and len(complete) == 6


def test_every_architecture_of_a_small_space_failing_stops_with_the_error():
    from hyperbox.kernel import HyperboxError

    tiny = ToySpace([ToyMutable("op", Categorical(3))])

    def broken(trial):
        raise RuntimeError("no such file: data.csv")

    with pytest.raises(HyperboxError, match="every architecture failed; the last, 2: RuntimeError: no such file"):
        search(tiny, "random", objective=broken, budget=20, seed=0)


def test_a_broken_setup_on_a_small_space_stops_with_its_error_not_as_exhausted():
    from hyperbox.kernel import HyperboxError

    def broken(trial):
        raise RuntimeError("no such file: data.csv")

    with pytest.raises(HyperboxError, match="5 trials failed in a row.*no such file"):
        search(small_space(), "random", objective=broken, budget=20, seed=0)


def test_a_ledger_without_release_still_ends_a_small_search():
    from hyperbox.kernel.ledger import Budget, LocalLedger

    class OlderLedger:  # written before ledgers could release a claim
        experiment, study = {}, None

        def __init__(self):
            self._books = LocalLedger(Budget(trials=10))

        def __getattr__(self, name):
            if name == "release":
                raise AttributeError(name)
            return getattr(self._books, name)

    with pytest.warns(SearchWarning, match="every one of the 6"):
        result = search(small_space(), "random", objective=lambda trial: 1.0, storage=OlderLedger(), seed=0)
    assert len(result.trials) == 6


def test_dedup_can_be_turned_off_from_the_command_line(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("dataset: digits\nspace: demo\nmutator: random\ntrainer: standalone\n")
    assert load_experiment(experiment).dedup is True
    assert load_experiment(experiment, ["dedup=false"]).dedup is False
