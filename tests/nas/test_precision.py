"""precision: 32 | bf16 | 16-mixed on every trainer, and its bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperbox.kernel import ConfigError
from hyperbox.nas import ops
from hyperbox.nas.datasets import synthetic
from hyperbox.nas.spaces import ValueSpace
from hyperbox.nas.trainers import DartsTrainer, OneShotTrainer, StandaloneTrainer
from hyperbox.nas.trainers._precision import Precision

torch.set_num_threads(1)


class _Context:
    seed, resumed, device, directory, trial = 0, False, "cpu", None, None
    log = type("Log", (), {"info": lambda self, *a, **k: None})()

    def __init__(self) -> None:
        self.reports = []

    def state_path(self, name):
        return None

    def report(self, epoch, metrics):
        self.reports.append(metrics)


def _supernet() -> nn.Module:
    torch.manual_seed(0)
    width = ValueSpace([8, 16], key="width")
    return nn.Sequential(ops.Linear(16, width), nn.ReLU(), ops.Linear(width, 4))


def test_bf16_trains_on_a_cpu_under_autocast():
    data = synthetic(num_samples=96, num_classes=4, input_shape=(16,), seed=0)
    model, context = _supernet(), _Context()
    before = model[0].weight.detach().clone()
    OneShotTrainer(epochs=2, batch_size=16, precision="bf16").fit(model, None, data, context)
    assert len(context.reports) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in context.reports)
    assert model[0].weight.dtype == torch.float32 and not torch.equal(before, model[0].weight)  # float32 weights
    with Precision("bf16", torch.device("cpu")).autocast():
        assert model[0].weight.new_ones(1, 16).matmul(model[0].weight[:8].t()).dtype == torch.bfloat16


@pytest.mark.parametrize("trainer", [OneShotTrainer, StandaloneTrainer, DartsTrainer])
def test_an_unknown_precision_is_refused_when_the_trainer_is_built(trainer):
    with pytest.raises(ValueError, match=r"precision='fp8' must be 32, bf16 or 16-mixed"):
        trainer(precision="fp8")


def test_float16_on_a_cpu_is_a_one_line_error():
    data = synthetic(num_samples=32, num_classes=4, input_shape=(16,), seed=0)
    with pytest.raises(ConfigError, match="precision: 16-mixed needs a CUDA device"):
        StandaloneTrainer(epochs=1, precision="16-mixed").trial(_supernet(), {"width": 0}, data, _Context())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 autocast and its grad scaler need a CUDA device")
def test_float16_trains_on_a_gpu_with_a_grad_scaler():
    data = synthetic(num_samples=96, num_classes=4, input_shape=(16,), seed=0)
    context = _Context()
    context.device = "cuda"
    OneShotTrainer(epochs=2, batch_size=16, precision="16-mixed").fit(_supernet(), None, data, context)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in context.reports)
