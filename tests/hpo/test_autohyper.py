"""autoHyper: EVBMF on known matrices, the knowledge gain of layers, and the learning-rate search."""

import csv

import numpy as np
import pytest
import torch

from hyperbox.hpo.autohyper import AutoHyper, evbmf, knowledge_gain, low_rank_metric, tune_lr


@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_evbmf_finds_the_rank_of_a_noisy_low_rank_matrix(noise):
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 40)) + noise * rng.normal(size=(60, 40))
    result = evbmf(matrix)
    assert result.rank == 5
    assert result.noise_variance == pytest.approx(noise**2, rel=0.2)
    assert np.all(np.diff(result.singular_values) <= 0)


def test_evbmf_finds_nothing_in_pure_noise():
    rng = np.random.default_rng(1)
    assert evbmf(rng.normal(size=(60, 40))).rank == 0
    assert evbmf(rng.normal(size=(40, 60))).rank == 0
    assert evbmf(np.zeros((4, 3))).rank == 0


def test_knowledge_gain_sees_structure_and_not_noise():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3), torch.nn.Conv2d(16, 16, 3), torch.nn.Linear(16, 4))
    with torch.no_grad():  # the second conv gets a rank-2 weight on top of its random init
        weight = model[1].weight
        weight += (torch.randn(16, 2) @ torch.randn(2, 16 * 9)).reshape(weight.shape)
    gains = knowledge_gain(model)
    assert set(gains) == {"0.weight", "1.weight", "2.weight"}
    assert gains["0.weight"] == [0.0, 0.0]  # random init: noise through both unfoldings
    assert all(gain > 0 for gain in gains["1.weight"])
    assert low_rank_metric(model) == pytest.approx(3 / 5)


def layered_toy(thresholds, seed=0):
    """``train_fn`` whose layer ``i`` learns (gains rank-3 structure) once ``lr > thresholds[i]``."""
    rng = np.random.default_rng(seed)
    noise = [rng.normal(size=(30, 20)) for _ in thresholds]
    signal = [rng.normal(size=(30, 3)) @ rng.normal(size=(3, 20)) for _ in thresholds]

    def train_fn(lr):
        model = torch.nn.Sequential(*[torch.nn.Linear(20, 30, bias=False) for _ in thresholds])
        with torch.no_grad():
            for layer, threshold, n, s in zip(model, thresholds, noise, signal):
                layer.weight.copy_(torch.from_numpy(n + (lr > threshold) * s))
        return model

    return train_fn


def test_search_picks_a_rate_where_the_layers_have_learnt(tmp_path):
    thresholds = np.geomspace(1e-3, 1e-2, 8)
    result = AutoHyper(layered_toy(thresholds), directory=tmp_path).run()
    assert thresholds[0] < result.lr < thresholds[-1] * 1.5
    assert result.history[0][2] == "all-zero"  # 1e-4 teaches nothing: the range moves up
    assert result.history[-1][2].startswith("exit-")
    with open(tmp_path / "lrrt.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(float(r["lr"]), float(r["rank"]), r["msg"]) for r in rows] == result.history


def test_search_lowers_the_range_when_the_first_rate_already_learns(tmp_path):
    lr = tune_lr(layered_toy(np.geomspace(1e-6, 1e-5, 4)), tmp_path, max_trials=60)
    assert 1e-6 < lr < 1.5e-5
    assert "early-cross" in (tmp_path / "lrrt.csv").read_text()


def test_rank_is_averaged_over_epoch_snapshots():
    thresholds = [0.5, 2.0]
    train_fn = layered_toy(thresholds)
    search = AutoHyper(lambda lr: [train_fn(lr), train_fn(10 * lr)])
    assert search.rank(0.1) == pytest.approx((1.0 + 0.5) / 2)


def test_budget_stops_a_search_that_never_learns():
    result = AutoHyper(lambda lr: None, metric=lambda model: 1.0, max_trials=5).run()
    assert len(result.history) == 6 and result.history[-1][2] == "exit-budget"


def test_real_training_turns_noise_into_knowledge():
    torch.manual_seed(0)
    inputs = torch.randn(256, 32)
    labels = (inputs @ torch.randn(32, 4)).argmax(1)

    def train_fn(lr):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for _ in range(3):
            for batch in range(0, 256, 32):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(inputs[batch : batch + 32]), labels[batch : batch + 32])
                loss.backward()
                optimizer.step()
        return model

    assert low_rank_metric(train_fn(1e-4)) == 1.0  # barely moved from the random init
    assert low_rank_metric(train_fn(1.0)) < 1.0
