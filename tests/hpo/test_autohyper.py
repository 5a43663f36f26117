"""autoHyper: EVBMF on known matrices, the rank of convolution weights against the reference
code's, and the learning-rate search against the reference's rules."""

import copy
import csv

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from hyperbox.hpo.autohyper import AutoHyper, evbmf, knowledge_gain, low_rank_metric, noise_only_unfoldings, tune_lr

torch.set_num_threads(1)


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


def add_structure(conv, rank=2):
    """Add a rank-``rank`` pattern to ``conv``'s output unfolding (and so to its input one)."""
    with torch.no_grad():
        out_channels = conv.weight.shape[0]
        conv.weight += (torch.randn(out_channels, rank) @ torch.randn(rank, conv.weight[0].numel())).reshape(
            conv.weight.shape
        )


def test_the_rank_reads_convolutions_only():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3), torch.nn.Conv2d(16, 16, 3), torch.nn.Linear(16, 4))
    add_structure(model[1])  # the first conv keeps its random init; the linear layer is not read
    gains = knowledge_gain(model)
    assert set(gains) == {"0.weight", "1.weight"}
    assert gains["0.weight"] == [0.0, 0.0]  # random init: noise through both unfoldings
    assert all(gain > 0 for gain in gains["1.weight"])
    assert low_rank_metric(model) == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="convolution"):
        low_rank_metric(torch.nn.Linear(4, 4))


def test_unfoldings_with_a_side_of_one_are_named_and_left_out_of_the_rank():
    torch.manual_seed(0)
    stem, depthwise, conv = torch.nn.Conv2d(1, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8), torch.nn.Conv2d(8, 16, 3)
    model = torch.nn.Sequential(stem, depthwise, conv)
    for layer in model:
        add_structure(layer)
    assert noise_only_unfoldings(model) == ["0.weight mode 3 (1 x 72)", "1.weight mode 3 (1 x 72)"]
    assert knowledge_gain(model)["0.weight"][0] == 0.0  # one singular value is never kept, learnt or not
    assert low_rank_metric(model) == 0.0  # counted, they would hold it at 2/6


# --- the reference's metric, re-derived --------------------------------------------------------
# github.com/MathieuTuli/autoHyper, branch master: src/autohyper/VBMF.py:EVBMF and EVBsigma2 (the
# noise variance by bounded minimisation of the free energy, then the retained singular values;
# the matrix is taken as given, rows <= columns assumed but not checked), src/autohyper/metrics.py:
# Metrics.evaluate (mode-3 and mode-4 unfoldings of every 4-D weight, S = sum(d / max(d)) / channels,
# 0 with nothing retained; where EVBMF raises, the previous epoch's S, or 0 at epoch 0) and
# src/autohyper/autoHyper.py:compute_rank (the mean, over the epochs of a trial, of the float16
# fraction of S that are 0).


def reference_retained(y):
    rows, cols = y.shape  # the reference assumes rows <= cols and does not transpose
    alpha = rows / cols
    tau_bar = 2.5129 * np.sqrt(alpha)
    x_bar = (1 + tau_bar) * (1 + alpha / tau_bar)
    s = torch.linalg.svd(y, full_matrices=False).S  # torch.svd(Y) in the reference
    first = int(min(np.ceil(rows / (1 + alpha)) - 1, rows)) - 1
    upper = float(torch.sum(s**2) / (rows * cols))
    lower = float(torch.max(torch.stack([s[first + 1] ** 2 / (cols * x_bar), torch.mean(s[first + 1 :] ** 2) / cols])))

    def free_energy(sigma2, s):
        x = s**2 / (cols * sigma2)
        z1, z2 = x[x > x_bar], x[x <= x_bar]
        tau = 0.5 * (z1 - (1 + alpha) + np.sqrt((z1 - (1 + alpha)) ** 2 - 4 * alpha))
        return (
            np.sum(z2 - np.log(z2))
            + np.sum(z1 - tau)
            + np.sum(np.log((tau + 1) / z1))
            + alpha * np.sum(np.log(tau / alpha + 1))
            + (rows - len(s)) * np.log(sigma2)
        )

    # raises ValueError when lower > upper, as in the reference
    sigma2 = minimize_scalar(free_energy, args=(s.numpy(),), bounds=[lower, upper], method="Bounded").x
    s = s[s > np.sqrt(cols * sigma2 * x_bar)]
    shrink = 1 - (rows + cols) * sigma2 / s**2
    return (s / 2 * (shrink + torch.sqrt(shrink**2 - 4 * rows * cols * sigma2**2 / s**4))).numpy()


def reference_rank(epochs):
    fractions, previous, failures = [], None, 0
    for epoch, parameters in enumerate(epochs):
        gains = []
        for weight in (p.detach() for p in parameters if p.dim() == 4):
            out_channels, in_channels = weight.shape[:2]
            mode_3 = weight.permute(1, 0, 2, 3).reshape(in_channels, -1)
            mode_4 = weight.reshape(out_channels, -1)
            for unfolding, channels in ((mode_3, in_channels), (mode_4, out_channels)):
                try:
                    d = reference_retained(unfolding)
                    gains.append(np.sum(d / max(d)) / channels if len(d) else 0)
                except Exception:
                    failures += 1
                    gains.append(previous[len(gains)] if epoch > 0 else 0)
        # the reference lists mode 3 of every layer, then mode 4: the same fraction of zeros
        fractions.append(np.mean(np.isclose(gains, 0).astype(np.float16)))
        previous = gains
    return float(np.mean(fractions)), failures


def test_the_rank_equals_the_reference_on_trained_weights():
    torch.manual_seed(0)
    inputs = torch.randn(512, 3, 8, 8)
    labels = torch.nn.Conv2d(3, 4, 8)(inputs).flatten(1).argmax(1).detach()  # a learnable rule
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 64, 1),  # a tall output unfolding (64 x 16), factorised as it is
        torch.nn.ReLU(),
        torch.nn.Conv2d(64, 24, 3, padding=1),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 4),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    epochs = []
    for epoch in range(3):  # short epochs of 128 samples: the rank still changes between them
        for batch in range(128 * epoch, 128 * (epoch + 1), 32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs[batch : batch + 32]), labels[batch : batch + 32]).backward()
            optimizer.step()
        epochs.append(copy.deepcopy(net))
    ours = [low_rank_metric(model) for model in epochs]
    assert 0 < np.mean(ours) < 1 and len(set(ours)) > 1  # some layers learnt, more with every epoch
    reference, failures = reference_rank(m.parameters() for m in epochs)
    assert failures > 0  # the tall unfolding: no noise variance between the reference's bounds
    search = AutoHyper(lambda lr: epochs)
    assert search.rank(1e-3) == pytest.approx(reference, abs=5e-4)


def pointwise(scale, seed=0):
    """A 1x1 convolution 16 -> 64 with a rank-2 pattern of size ``scale``: its output unfolding is
    tall (64 x 16)."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(16, 64, 1)
    with torch.no_grad():
        conv.weight += scale * (torch.randn(64, 2) @ torch.randn(2, 16)).reshape(conv.weight.shape)
    return torch.nn.Sequential(conv)


def test_a_tall_unfolding_is_factorised_as_the_reference_does():
    faint, clear = pointwise(0.1), pointwise(1.0)
    with pytest.raises(ValueError, match="lower bound"):  # as given, the reference finds no noise variance
        reference_retained(faint[0].weight.detach().reshape(64, -1))
    assert evbmf(faint[0].weight.detach().reshape(64, -1).numpy()).rank == 2  # transposed, it would
    d = reference_retained(clear[0].weight.detach().reshape(64, -1))
    assert knowledge_gain(clear)["0.weight"][1] == pytest.approx(np.sum(d / max(d)) / 64, abs=1e-6)
    assert knowledge_gain(faint)["0.weight"][1] == 0.0  # 0 where EVBMF fails, as at the reference's epoch 0
    assert low_rank_metric(faint) == 0.5
    assert AutoHyper(lambda lr: [clear, faint]).rank(0.1) == 0.0  # the failed epoch keeps the previous gain


def test_non_finite_weights_keep_the_previous_epochs_gain():
    learnt = pointwise(1.0)
    diverged = copy.deepcopy(learnt)
    with torch.no_grad():
        diverged[0].weight[0, 0] = float("nan")
    assert low_rank_metric(diverged) == 1.0  # at a trial's first epoch: 0 gain, as the reference
    assert AutoHyper(lambda lr: [learnt, diverged]).rank(0.1) == 0.0


# --- the reference's rules, re-derived ---------------------------------------------------------


def reference_auto_lr(
    rank_of, min_lr=1e-4, max_lr=0.1, num_split=20, min_delta=5e-3, lr_delta=3e-5, exit_counter_thresh=6, power=0.8
):
    """github.com/MathieuTuli/autoHyper, branch master, src/autohyper/autoHyper.py:auto_lr, statement
    by statement, with ``rank_of(lr)`` for a trial; returns the rows ``(lr, rank, msg)`` and the
    returned rate, or None after 2000 trials (the rules can run forever)."""
    rates = np.geomspace(min_lr, max_lr, num_split)
    index, exit_counter, first_run, rank, trials = 0, 0, True, -1, 0
    rows, rank_history = [], []
    while True:
        if index == len(rates):
            min_lr, max_lr = rates[-2], float(rates[-1]) * 1.5
            rates = np.geomspace(min_lr, max_lr, num_split)
            rows.append((rates[index - 1], -1, "end-reached"))
            index, rank = 0, -1
            continue
        if abs(min_lr - max_lr) < lr_delta:
            rows.append((rates[index], rank, "exit-delta"))
            break
        if trials == 2000:
            return rows, None
        trials += 1
        rank = rank_of(rates[index])
        rank_history.append(rank)
        if np.isclose(rank, 1.0):
            rows.append((rates[index], rank, "all-zero"))
            min_lr *= 5
            if min_lr > max_lr:
                max_lr = min_lr * 1.5
            rates, rank_history, index, rank = np.geomspace(min_lr, max_lr, num_split), [], 0, -1
            continue
        if index == 0:
            if first_run and rank < 0.5:
                rows.append((rates[index], rank, "early-cross"))
                min_lr /= 10
                rates, rank_history, rank = np.geomspace(min_lr, max_lr, num_split), [], -1
                continue
        else:
            first_run = False
            if np.isclose(rank, 0.0):
                rows.append((rates[index], rank, "reach-100"))
                min_lr = rates[max(index - 2, 0)]
                max_lr = rates[index - 1] if rates[index - 1] != min_lr else (min_lr + rates[index]) / 2
                rates, rank_history, index, rank = np.geomspace(min_lr, max_lr, num_split), [], 0, -1
                continue
            if np.cumprod(rank_history)[-1] ** power < min_delta:
                rows.append((rates[index], rank, "plateau"))
                exit_counter += 1
                min_lr, max_lr = rates[max(index - 2, 0)], rates[index]
                rates, rank_history, index, rank = np.geomspace(min_lr, max_lr, num_split), [], 0, -1
                if exit_counter > exit_counter_thresh:
                    rows.append((rates[index], rank, "exit-counter"))
                    break
                continue
        rows.append((rates[index], rank, "nothing"))
        index += 1
    return [(float(lr), float(rank), msg) for lr, rank, msg in rows], float(rates[-1])


CURVES = {  # rank against learning rate; each exercises the rule it is named after
    "all-zero": (lambda lr: 1.0 if lr < 2e-3 else float(np.clip(1 - np.log(lr / 2e-3) / 4, 0, 0.98)), {}),
    "early-cross": (lambda lr: float(np.clip(0.3 - 0.1 * np.log10(lr / 1e-4), 0, 1)), {}),
    "plateau": (lambda lr: 0.667 if lr >= 0.0125 else float(np.clip(1 - np.log(lr / 1e-4) / 6, 0.667, 0.99)), {}),
    "end-reached": (lambda lr: 0.97 if lr < 0.3 else 0.0, {}),
    "exit-counter": (lambda lr: 0.6, {"num_split": 6, "lr_delta": 1e-9, "max_plateaus": 2}),
}


@pytest.mark.parametrize("name", list(CURVES))
def test_the_search_makes_the_reference_trials_and_returns_its_rate(name, tmp_path):
    curve, options = CURVES[name]
    reference_options = {("exit_counter_thresh" if key == "max_plateaus" else key): v for key, v in options.items()}
    rows, returned = reference_auto_lr(curve, **reference_options)
    result = AutoHyper(lambda lr: lr, metric=curve, directory=tmp_path, **options).run()
    assert result.history == rows
    assert name in [msg for *_, msg in rows]
    assert result.lr == returned and result.converged and result.exit == rows[-1][2]
    assert result.lr in [lr for lr, rank, _ in rows if rank >= 0]  # a rate that was trained
    assert result.final_range[1] == returned and result.last_trained == [lr for lr, rank, _ in rows if rank >= 0][-1]
    with open(tmp_path / "lrrt.csv", newline="") as file:
        written = [(float(r["lr"]), float(r["rank"]), r["msg"]) for r in csv.DictReader(file)]
    assert written == rows


def test_an_untrained_top_of_the_final_range_gives_the_highest_rate_trained_in_it():
    def curve(lr):  # rank 0 at the second rate: the range becomes the first rate up to the midpoint
        return 0.9 if lr < 1.2e-3 else 0.0

    options = {"min_lr": 1e-3, "max_lr": 0.1, "lr_delta": 1e-3}  # that range is already narrow enough
    rows, returned = reference_auto_lr(curve, **options)
    result = AutoHyper(lambda lr: lr, metric=curve, **options).run()
    assert result.history == rows and [msg for *_, msg in rows] == ["nothing", "reach-100", "exit-delta"]
    assert result.converged and result.final_range == pytest.approx((1e-3, returned))
    trained = [lr for lr, rank, _ in rows if rank >= 0]
    assert returned not in trained  # the reference returns the midpoint, never trained
    assert result.lr == 1e-3 == max(lr for lr in trained if lr <= returned)


def test_a_search_the_reference_would_run_forever_stops_unconverged():
    def curve(lr):  # from noise to rank < 0.5 within a factor of 5: all-zero and early-cross undo each other
        return 1.0 if lr < 2e-4 else float(np.clip(0.45 - 0.15 * np.log10(lr / 2e-4), 0, 1))

    rows, returned = reference_auto_lr(curve)
    assert returned is None  # still going after 2000 trials
    result = AutoHyper(lambda lr: lr, metric=curve, max_reversals=4).run()
    assert result.history[:-1] == rows[: len(result.history) - 1]
    assert result.exit == "exit-oscillation" and not result.converged
    assert result.lr == result.last_trained == result.history[-2][0]


def test_a_budget_or_a_ceiling_stops_a_search_that_never_learns():
    budget = AutoHyper(lambda lr: lr, metric=lambda lr: 1.0, max_trials=5).run()
    assert len(budget.history) == 6 and budget.exit == "exit-budget" and not budget.converged
    assert budget.lr == budget.last_trained == budget.history[-2][0]  # the last rate trained, not the next
    ceiling = AutoHyper(lambda lr: lr, metric=lambda lr: 1.0, lr_ceiling=1.0).run()
    assert ceiling.exit == "exit-ceiling" and not ceiling.converged
    assert max(lr for lr, rank, _ in ceiling.history if rank >= 0) <= 1.0 < ceiling.history[-1][0]


def test_rank_is_averaged_over_epoch_snapshots():
    torch.manual_seed(0)
    learnt, noise = torch.nn.Conv2d(8, 16, 3), torch.nn.Conv2d(8, 16, 3)
    add_structure(learnt)
    search = AutoHyper(lambda lr: [noise, learnt, learnt])
    assert search.rank(0.1) == pytest.approx((1.0 + 0.0 + 0.0) / 3)


def test_tune_lr_writes_the_record_and_returns_the_result(tmp_path):
    result = tune_lr(lambda lr: lr, tmp_path, metric=CURVES["all-zero"][0])
    assert result.converged and (tmp_path / "lrrt.csv").read_text().count("\n") == len(result.history) + 1


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(channels),
            torch.nn.ReLU(),
            torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return torch.relu(x + self.body(x))


def small_resnet(width=4):
    """A ResNet in miniature: a stem, a residual block, a strided convolution, another block."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(width),
        torch.nn.ReLU(),
        ResidualBlock(width),
        torch.nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
        torch.nn.BatchNorm2d(2 * width),
        torch.nn.ReLU(),
        ResidualBlock(2 * width),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * width, 10),
    )


@pytest.mark.slow
def test_the_search_converges_on_a_small_resnet_on_digits():
    from hyperbox.nas.datasets import digits

    inputs, labels = digits(resize=16).train[:256]

    def train_fn(lr):  # the reference's trial: 5 epochs of Adam at a constant rate, the model after each
        torch.manual_seed(0)
        model = small_resnet()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        epochs = []
        for _ in range(5):
            for batch in torch.randperm(len(inputs)).split(16):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
                optimizer.step()
            epochs.append(copy.deepcopy(model))
        return epochs

    result = AutoHyper(train_fn).run()
    assert result.converged, result.history[-1]
    trained = [(lr, rank) for lr, rank, _ in result.history if rank >= 0]
    assert trained[0] == (1e-4, 1.0)  # too small a rate: every convolution still noise
    slow = [rank for lr, rank in trained if lr < 1e-3]
    fast = [rank for lr, rank in trained if lr > 1e-2]
    assert slow and fast and np.mean(fast) < np.mean(slow) - 0.3  # the larger the rate, the more layers learn
    assert result.lr in dict(trained) and 1e-3 < result.lr < 0.1


def test_a_range_the_search_would_end_before_training_is_refused():
    # the reference would return max_lr untrained at once (its first check is the range's width)
    with pytest.raises(ValueError, match="max_lr - min_lr must be at least lr_delta"):
        AutoHyper(lambda lr: lr, min_lr=0.01, max_lr=0.01001)
