"""Estimators: params, FLOPs (MACs), BatchNorm recalibration + accuracy, latency."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.nas import ops
from hyperbox.nas.datasets import digits, synthetic
from hyperbox.nas.estimators import (
    AccuracyEstimator,
    FlopsEstimator,
    LatencyEstimator,
    ParamsEstimator,
    recalibrate_batchnorm,
)
from hyperbox.nas.spaces import OperationSpace, ValueSpace

torch.set_num_threads(1)
CONTEXT = SimpleNamespace(device="cpu", seed=0)


def _plain_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    )


def _supernet() -> nn.Module:
    """Width 4 or 8 conv, then a choice of two heads; the widths decide the active parameters."""
    torch.manual_seed(0)
    width = ValueSpace([8, 4], key="width")  # unsorted on purpose
    return nn.Sequential(
        ops.Conv2d(1, width, 3, padding=1),
        ops.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        OperationSpace(
            [ops.Linear(width, 10), nn.Sequential(ops.Linear(width, 6), nn.ReLU(), nn.Linear(6, 10))], key="head"
        ),
    )


def test_params_of_a_plain_model_is_the_sum_of_numel():
    model = _plain_cnn()
    assert ParamsEstimator()(model, None, CONTEXT) == {"params": sum(p.numel() for p in model.parameters())}


def test_params_of_a_supernet_count_only_the_active_subnet():
    model = _supernet()
    space = SearchSpace.of(model)
    space.apply({"width": 1, "head": 0})  # width 4, linear head
    expected = (4 * 1 * 9 + 4) + (4 + 4) + (4 * 10 + 10)
    assert ParamsEstimator()(model, None, CONTEXT) == {"params": expected}
    space.apply({"width": 0, "head": 1})  # width 8, two-layer head
    expected = (8 * 9 + 8) + (8 + 8) + (8 * 6 + 6) + (6 * 10 + 10)
    assert ParamsEstimator()(model, None, CONTEXT)["params"] == expected


def test_flops_match_the_hand_formula():
    data = SimpleNamespace(input_shape=(1, 8, 8))
    macs = 8 * 8 * 4 * (1 * 3 * 3) + (4 * 8 * 8) * 10  # conv: H*W*C_out*C_in*k*k; linear: in*out
    assert FlopsEstimator()(_plain_cnn(), data, CONTEXT) == {"flops": macs}
    grouped = nn.Conv2d(4, 8, 3, padding=1, groups=2)
    assert FlopsEstimator(input_shape=(4, 5, 5))(grouped)["flops"] == 5 * 5 * 8 * (4 // 2) * 9


def test_flops_of_a_supernet_follow_its_decisions():
    model = _supernet()
    SearchSpace.of(model).apply({"width": 1, "head": 0})
    assert FlopsEstimator()(model, SimpleNamespace(input_shape=(1, 8, 8)))["flops"] == 8 * 8 * 4 * 9 + 4 * 10


def test_flops_without_an_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="input_shape"):
        FlopsEstimator()(_plain_cnn(), SimpleNamespace())


def test_batchnorm_recalibration_matches_a_manual_recomputation():
    torch.manual_seed(0)
    data = digits()
    model = _plain_cnn()
    norm = model[1]
    norm.running_mean.fill_(5.0)
    batches = list(data.loader("train", batch_size=32))[:3]
    used = recalibrate_batchnorm(model, batches, 3, torch.device("cpu"))
    with torch.no_grad():
        activations = [model[0](x) for x, _ in batches]
    means = torch.stack([a.mean(dim=(0, 2, 3)) for a in activations])
    variances = torch.stack([a.var(dim=(0, 2, 3), unbiased=True) for a in activations])
    assert used == 3 and not model.training and norm.momentum == 0.1
    assert torch.allclose(norm.running_mean, means.mean(0), atol=1e-5)
    assert torch.allclose(norm.running_var, variances.mean(0), atol=1e-5)


def test_accuracy_recalibrates_a_plain_model_only_when_asked_and_names_the_metric():
    data = digits()
    model = _plain_cnn()
    before = model[1].running_mean.clone()
    result = AccuracyEstimator(calibration_batches=2)(model, data, CONTEXT)
    assert set(result) == {"accuracy"} and 0 <= result["accuracy"] <= 1
    assert torch.equal(before, model[1].running_mean)  # a trained plain model keeps its statistics
    AccuracyEstimator(calibration_batches=2, recalibrate_bn=True)(model, data, CONTEXT)
    assert not torch.equal(before, model[1].running_mean)
    test = AccuracyEstimator(split="test", recalibrate_bn=False)(model, data, CONTEXT)
    assert set(test) == {"test_accuracy"}
    assert set(AccuracyEstimator(name="top1")(model, data, CONTEXT)) == {"top1"}


def test_accuracy_of_a_supernet_leaves_its_shared_statistics_alone():
    model = _supernet()
    SearchSpace.of(model).apply({"width": 1, "head": 0})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    AccuracyEstimator(calibration_batches=2)(model, digits(), CONTEXT)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_accuracy_counts_correct_predictions():
    data = synthetic(num_samples=40, num_classes=2, input_shape=(3,), seed=1)

    class Oracle(nn.Module):
        """Predicts class 0 always: its accuracy is the share of label 0."""

        def forward(self, x):
            return torch.stack([torch.ones(len(x)), torch.zeros(len(x))], dim=1)

    labels = data.val.tensors[1]
    result = AccuracyEstimator()(Oracle(), data, CONTEXT)
    assert result["accuracy"] == pytest.approx((labels == 0).float().mean().item())


def test_bad_estimator_arguments():
    with pytest.raises(ValueError, match="split='dev'"):
        AccuracyEstimator(split="dev")
    with pytest.raises(ValueError, match="repeats"):
        LatencyEstimator(repeats=0)
    with pytest.raises(ValueError, match="device='tpu9'"):
        LatencyEstimator(device="tpu9")(_plain_cnn(), SimpleNamespace(input_shape=(1, 8, 8)), CONTEXT)


def test_latency_is_a_positive_number_of_milliseconds():
    result = LatencyEstimator(warmup=1, repeats=3)(_plain_cnn(), SimpleNamespace(input_shape=(1, 8, 8)), CONTEXT)
    assert set(result) == {"latency_ms"} and result["latency_ms"] > 0


def test_subnets_cut_from_a_trained_supernet_are_recalibrated_by_default():
    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.trainers import OneShotTrainer

    data = digits()
    supernet = DigitsCNNSpace()
    arch = {"stem_width": 0, "stem_kernel": 0, "block1_op": 0, "block_width": 0, "block2_op": 0, "head_width": 0}
    subnet = OneShotTrainer().trial(supernet, arch, data, CONTEXT)
    before = subnet.stem[1].running_mean.clone()
    AccuracyEstimator(calibration_batches=2)(subnet, data, CONTEXT)
    assert not torch.equal(before, subnet.stem[1].running_mean)  # its own statistics now
    assert torch.equal(supernet.stem[1].running_mean[: before.numel()], before)  # the supernet's untouched


def test_recalibrating_a_supernet_itself_is_an_error():
    from hyperbox.nas.demo_space import DigitsCNNSpace

    with pytest.raises(ValueError, match="plain subnet"):
        recalibrate_batchnorm(DigitsCNNSpace(), [], 1, torch.device("cpu"))
