"""Top-1 accuracy on a data split, with BatchNorm recalibrated for the evaluated subnet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperbox.nas.estimators._batchnorm import recalibrate_batchnorm
from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.estimators._plain import has_shared_statistics, plain_network

_DEFAULT_NAMES = {"val": "accuracy", "test": "test_accuracy", "train": "train_accuracy"}


def logits_of(output: Any) -> torch.Tensor:
    """The class scores of a forward pass; networks with auxiliary heads return them first in a tuple."""
    return output[0] if isinstance(output, (tuple, list)) else output


def evaluate(network: nn.Module, batches: Iterable, device: torch.device) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``network`` over ``batches``, in eval mode without gradients."""
    was_training = network.training
    network.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = logits_of(network(inputs))
            loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
            correct += (logits.argmax(dim=1) == targets).sum().item()
            total += len(targets)
    network.train(was_training)
    if total == 0:
        raise ValueError("evaluate: no batch to evaluate")
    return correct / total, loss_sum / total


class AccuracyEstimator:
    """Top-1 accuracy (a fraction in [0, 1]) on ``split``.

    With ``recalibrate_bn`` (by default: when ``model`` is a supernet or a subnet cut from one
    without training of its own, whose shared statistics belong to no single subnet) every
    BatchNorm layer's statistics are re-estimated on ``calibration_batches`` training batches
    before the evaluation, as Once-for-All does for each subnet of a supernet (the same training
    images for every subnet, so subnets compare fairly).
    A supernet handed in is measured through a copy cut to its decisions; a plain model is
    recalibrated in place. The metric is ``accuracy`` for the val split, ``test_accuracy`` for
    test and ``train_accuracy`` for train, unless ``name`` says otherwise.
    """

    def __init__(
        self,
        split: str = "val",
        batch_size: int = 256,
        recalibrate_bn: bool | None = None,
        calibration_batches: int = 20,
        calibration_batch_size: int | None = None,
        name: str | None = None,
    ) -> None:
        if split not in _DEFAULT_NAMES:
            raise ValueError(f"split={split!r} must be one of {', '.join(_DEFAULT_NAMES)}")
        for argument, value in (("batch_size", batch_size), ("calibration_batches", calibration_batches)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{argument}={value!r} must be a positive integer")
        self.split = split
        self.batch_size = batch_size
        self.recalibrate_bn = recalibrate_bn
        self.calibration_batches = calibration_batches
        self.calibration_batch_size = calibration_batch_size or batch_size
        self.name = name or _DEFAULT_NAMES[split]

    def __call__(self, model: nn.Module, data: Any, context: Any) -> dict[str, float]:
        device = resolve_device(None, context)
        recalibrate = self.recalibrate_bn if self.recalibrate_bn is not None else has_shared_statistics(model)
        network = plain_network(model).to(device)
        if recalibrate:
            was_training = network.training
            calibration = data.loader("train", self.calibration_batch_size, shuffle=True, seed=0)
            recalibrate_batchnorm(network, calibration, self.calibration_batches, device)
            network.train(was_training)  # the model goes back as it came; evaluate switches to eval itself
        accuracy, _ = evaluate(network, data.loader(self.split, self.batch_size), device)
        return {self.name: accuracy}
