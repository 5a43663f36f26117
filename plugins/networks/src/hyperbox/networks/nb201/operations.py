"""The NAS-Bench-201 operations (Dong & Yang, 2020), as the benchmark's trained networks build them:
ReLU-Conv-BN convolutions without bias, affine batch norms with running statistics."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["OPERATIONS", "Zero", "ReLUConvBN", "ResNetBasicBlock", "operation"]

#: The five candidate operations of every edge, in the benchmark's order.
OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class Zero(nn.Module):
    """The ``none`` operation: zeros like the input; a mixture never computes it."""

    is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ResNetBasicBlock(nn.Module):
    """The stride-2 residual block between stages: two ReLU-Conv-BN 3x3 convolutions, and a 2x2
    average pool then 1x1 convolution on the shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def operation(name: str, channels: int) -> nn.Module:
    """The cell operation ``name`` (one of :data:`OPERATIONS`) on ``channels`` channels, stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise KeyError(name)
