"""Wall-clock time of a forward pass on the run's device."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.nas.estimators._device import resolve_device
from hyperbox.nas.estimators._flops import input_shape_of
from hyperbox.nas.estimators._plain import plain_network


class LatencyEstimator:
    """Median milliseconds of ``repeats`` timed forward passes of the (sub)network after ``warmup`` passes.

    Runs in eval mode without gradients on ``device`` (default: the run's), on a batch of
    ``batch_size`` zero inputs of the dataset's input shape; CUDA is synchronised around each pass.
    A plain model is moved to the device in place.
    """

    def __init__(
        self,
        batch_size: int = 1,
        warmup: int = 5,
        repeats: int = 20,
        device: str | None = None,
        input_shape: Sequence[int] | None = None,
        name: str = "latency_ms",
    ) -> None:
        for argument, value, low in (("batch_size", batch_size, 1), ("warmup", warmup, 0), ("repeats", repeats, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{argument}={value!r} must be an integer >= {low}")
        self.batch_size, self.warmup, self.repeats = batch_size, warmup, repeats
        self.device = device
        self.input_shape = input_shape
        self.name = name

    def __call__(self, model: nn.Module, data: Any = None, context: Any = None) -> dict[str, float]:
        device = resolve_device(self.device, context)
        network = plain_network(model).to(device)
        was_training = network.training
        network.eval()
        inputs = torch.zeros(self.batch_size, *input_shape_of(self.input_shape, data), device=device)
        synchronize = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        timings = []
        with torch.inference_mode():
            for run in range(self.warmup + self.repeats):
                synchronize()
                start = time.perf_counter()
                network(inputs)
                synchronize()
                if run >= self.warmup:
                    timings.append((time.perf_counter() - start) * 1000)
        network.train(was_training)
        return {self.name: statistics.median(timings)}
