"""Multiply-accumulates of one forward pass on the dataset's input shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hyperbox.nas.estimators._plain import plain_network


def input_shape_of(given: Sequence[int] | None, data: Any) -> tuple[int, ...]:
    shape = given if given is not None else getattr(data, "input_shape", None)
    if shape is None:
        raise ValueError("input_shape is unknown: the dataset has no input_shape attribute; pass input_shape=[C, H, W]")
    return tuple(int(size) for size in shape)


class FlopsEstimator:
    """Multiply-accumulates (MACs) of a batch-1 forward pass of the (sub)network on the real input shape.

    Counted with ``torch.utils.flop_counter.FlopCounterMode`` on the plain subnet, MACs = FLOPs / 2:
    convolutions, linear layers and matrix products (attention included) count; biases, BatchNorm,
    activations and pooling do not. A Conv2d counts ``H_out * W_out * C_out * C_in / groups * k_h * k_w``,
    a Linear ``in_features * out_features``. ``input_shape`` defaults to the dataset's.
    """

    def __init__(self, input_shape: Sequence[int] | None = None, name: str = "flops") -> None:
        self.input_shape = input_shape
        self.name = name

    def __call__(self, model: nn.Module, data: Any = None, context: Any = None) -> dict[str, int]:
        shape = input_shape_of(self.input_shape, data)
        network = plain_network(model)
        parameter = next(network.parameters(), None)
        inputs = torch.zeros(1, *shape, device=parameter.device if parameter is not None else "cpu")
        was_training = network.training
        network.eval()  # batch statistics of a single sample would fail or differ
        try:
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                network(inputs)
        finally:
            network.train(was_training)
        return {self.name: counter.get_total_flops() // 2}
