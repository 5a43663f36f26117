"""autoHyper's trust-region variant: learning rate and weight decay tuned together."""

import csv
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hyperbox.hpo.autohyper import TrustRegionAutoHyper, tune_lr_wd

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_random.yaml"


class FakeModel:
    """Just enough of a module for :func:`low_rank_metric`: weight matrices by name."""

    def __init__(self, weights):
        self.weights = weights

    def named_parameters(self):
        # 1x1 convolutions: the rank reads 4-D weights
        return [(f"{index}.weight", torch.from_numpy(w)[..., None, None]) for index, w in enumerate(self.weights)]


def basin(best_lr, best_wd, layers=16, seed=0):
    """``train_fn(lr, wd)`` whose layer ``i`` learns (gains rank-2 structure) within log-distance
    ``radii[i]`` of ``(best_lr, best_wd)``: the rank falls in rings towards the optimum, where it is 0,
    and the start of the search (1e-4, 1e-7) lies in pure noise."""
    rng = np.random.default_rng(seed)
    noise = [rng.normal(size=(12, 8)) for _ in range(layers)]
    signal = [rng.normal(size=(12, 2)) @ rng.normal(size=(2, 8)) for _ in range(layers)]
    radii = np.linspace(0.4, 4.0, layers)

    def train_fn(lr, weight_decay):
        # weight decay matters less than the learning rate: its log axis is stretched 1.5-fold
        distance = np.hypot(np.log(lr / best_lr), np.log(weight_decay / best_wd) / 1.5)
        return FakeModel([n + (distance < r) * s for n, s, r in zip(noise, signal, radii)])

    return train_fn


def read_rows(directory):
    with open(directory / "lrwd.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("best_lr, best_wd, seed", [(2e-2, 5e-4, 0), (3e-3, 1e-5, 1), (1e-1, 1e-3, 2)])
def test_search_converges_near_the_optimum_within_a_budget(tmp_path, best_lr, best_wd, seed):
    result = TrustRegionAutoHyper(basin(best_lr, best_wd, seed=seed), max_trials=150, directory=tmp_path).run()
    assert result.history[-1][3] == "exit-converged" and result.converged
    assert abs(np.log(result.lr / best_lr)) < 0.5  # inside the rank-0 disc around the optimum
    assert abs(np.log(result.weight_decay / best_wd)) < 0.75
    assert all(1 < scale < 1 + 5e-3 for scale in result.scales)  # the region has shrunk to the centre
    rows = read_rows(tmp_path)
    last_trial = [(float(r["lr"]), float(r["weight_decay"])) for r in rows if r["msg"] == "trial"][-1]
    assert result.last_trained == last_trial
    assert list(rows[0]) == ["lr", "weight_decay", "rank", "msg"]
    assert [(float(r["lr"]), float(r["weight_decay"]), float(r["rank"]), r["msg"]) for r in rows] == result.history


def stencil_spreads(history):
    """The log-lr spread of each stencil's new trials, and the decision that followed it."""
    spreads, trials = [], []
    for lr, _, _, msg in history:
        if msg == "trial":
            trials.append(np.log(lr))
        elif trials:
            spreads.append((max(trials) - min(trials), msg))
            trials = []
    return spreads


def test_the_region_expands_on_success_and_shrinks_on_failure():
    history = TrustRegionAutoHyper(basin(2e-2, 5e-4)).run().history
    decisions = [msg for *_, msg in history if msg != "trial"]
    assert decisions[0] == "climb"  # the start learns nothing: both rates go up
    assert "expand" in decisions and "shrink" in decisions
    spreads = stencil_spreads(history)
    for (spread, msg), (next_spread, _) in pairwise(spreads):
        if msg == "shrink":
            assert next_spread < spread  # a centre no neighbour beats: the stencil narrows
    expanded = [after / before for (before, msg), (after, _) in pairwise(spreads) if msg == "expand" and before > 0]
    assert expanded and max(expanded) > 1.5  # a success widens the stencil
    centres = [(1e-4, 1e-7)] + [(lr, wd, msg) for lr, wd, _, msg in history if msg != "trial"]
    for (lr, wd, *_), (next_lr, next_wd, msg) in pairwise(centres):
        if msg == "climb":  # both rates go up one step
            assert next_lr == pytest.approx(lr * 1.45) and next_wd == pytest.approx(wd * 2.0)


def test_a_start_that_already_learns_walks_down_to_noise_first():
    result = TrustRegionAutoHyper(basin(3e-3, 1e-5), lr=1e-2, weight_decay=1e-4).run()
    decisions = [msg for *_, msg in result.history if msg != "trial"]
    assert decisions[0] == "establish"
    assert abs(np.log(result.lr / 3e-3)) < 0.5 and abs(np.log(result.weight_decay / 1e-5)) < 0.75


def test_scored_points_are_not_retrained():
    seen = []
    train_fn = basin(2e-2, 5e-4)

    def counting(lr, weight_decay):
        seen.append((round(np.log(lr), 6), round(np.log(weight_decay), 6)))
        return train_fn(lr, weight_decay)

    TrustRegionAutoHyper(counting).run()
    assert len(seen) == len(set(seen))


def test_budget_stops_the_search_and_the_csv_is_written(tmp_path):
    result = tune_lr_wd(lambda lr, wd: None, tmp_path, metric=lambda model: 1.0, max_trials=5)
    rows = read_rows(tmp_path)
    assert [r["msg"] for r in rows] == ["trial"] * 5 + ["exit-budget"]
    assert (result.lr, result.weight_decay) == pytest.approx((1e-4, 1e-7))
    assert not result.converged and result.exit == "exit-budget"
    assert result.last_trained == (float(rows[4]["lr"]), float(rows[4]["weight_decay"]))
    assert result.scales == pytest.approx((1.45, 2.0))  # the initial steps: nothing decided yet


def test_rank_is_averaged_over_epoch_snapshots():
    models = {0.1: FakeModel([np.ones((4, 3))]), 1.0: FakeModel([np.random.default_rng(0).normal(size=(40, 30))])}
    search = TrustRegionAutoHyper(lambda lr, wd: [models[0.1], models[1.0]])
    assert search.rank(0.1, 1e-4) == pytest.approx(0.5)  # rank-1 matrix: learnt; noise: not


@pytest.mark.parametrize(
    "options, message",
    [
        ({"lr": 0.0}, "lr must be positive"),
        ({"weight_decay": -1e-4}, "weight_decay must be positive"),
        ({"lr_scale": 1.0}, "lr_scale must be above 1"),
        ({"weight_decay_scale": 0.5}, "weight_decay_scale must be above 1"),
        ({"expansion": 0.5}, "expansion must be at least 1"),
        ({"shrink": 1.0}, "shrink must be in (0, 1)"),
        ({"noise_rank": 0.0}, "noise_rank must be in (0, 1]"),
        ({"max_trials": 0}, "max_trials must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(options, message):
    with pytest.raises(ValueError) as error:
        TrustRegionAutoHyper(lambda lr, wd: None, **options)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_tune_lr_weight_decay_on_digits(hbk, tmp_path):
    options = ["--weight-decay", "--epochs", "1", "--max-trials", "4", "--allow-unconverged", "-q"]
    result = hbk("tune-lr", str(EXAMPLE), *options, f"output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "did not converge" in result.stderr  # four trials settle nothing
    (run,) = tmp_path.iterdir()
    rows = read_rows(run)
    assert [r["msg"] for r in rows] == ["trial"] * 4 + ["exit-budget"]
    assert all(0.0 <= float(r["rank"]) <= 1.0 for r in rows[:4])
    assert not (run / "lrrt.csv").exists()
    tuned = yaml.safe_load((run / "tuned.yaml").read_text())["trainer"]
    assert float(rows[-1]["lr"]) == pytest.approx(tuned["lr"]) and float(rows[-1]["weight_decay"]) == pytest.approx(
        tuned["weight_decay"]
    )
    assert f"learning rate {tuned['lr']:.6g} and weight decay {tuned['weight_decay']:.6g}" in result.stdout
