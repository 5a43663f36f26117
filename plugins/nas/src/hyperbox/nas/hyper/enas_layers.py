"""The layers of ENAS' micro (cell) space, as Hypernets names them: ``FactorizedReduction``,
``CalibrateSize`` and ``SafeConcatenate``. Like the other layers, they read their input sizes at
their first call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.nas.hyper.layers import HyperLayer

__all__ = ["CalibrateSize", "FactorizedReduction", "SafeConcatenate"]


class _Factorized(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 convolutions of stride 2, the second on
    the input shifted by one pixel, concatenated to ``filters`` channels (ENAS, Pham et al. 2018)."""

    def __init__(self, channels: int, filters: int) -> None:
        super().__init__()
        self.path1 = nn.Conv2d(channels, filters // 2, 1, stride=2, bias=False)
        self.path2 = nn.Conv2d(channels, filters - filters // 2, 1, stride=2, bias=False)
        self.norm = nn.BatchNorm2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.norm(torch.cat([self.path1(x), self.path2(shifted)], dim=1))


def _projection(channels: int, filters: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, filters, 1, bias=False), nn.BatchNorm2d(filters))


class FactorizedReduction(HyperLayer):
    """Half the height and width, ``filters`` channels."""

    def __init__(self, filters: Any, name: str | None = None) -> None:
        super().__init__(name, filters=filters)

    def build(self, x: torch.Tensor, filters: Any) -> nn.Module:
        return _Factorized(x.shape[1], int(filters))


class CalibrateSize(HyperLayer):
    """Input ``no`` of a cell's two inputs, brought to ``filters`` channels at the smaller of the
    two resolutions (a factorized reduction where it is twice the other's, else a 1x1 convolution
    where its channels differ). Called with the two inputs, or with one input that serves as both."""

    def __init__(self, no: int, filters: Any, name: str | None = None) -> None:
        if no not in (0, 1):
            raise ValueError(f"CalibrateSize: no={no!r} must be 0 or 1 (which of the cell's two inputs)")
        super().__init__(name, filters=filters)
        self.no = no

    def build(self, x: Any, filters: Any) -> nn.Module:
        inputs = list(x) if isinstance(x, (list, tuple)) else [x, x]
        mine, other = inputs[self.no], inputs[1 - self.no]
        filters = int(filters)
        if mine.shape[2] > other.shape[2]:  # the earlier input, before a reduction
            if mine.shape[2] != 2 * other.shape[2]:
                raise ValueError(
                    f"CalibrateSize: input {self.no} is {tuple(mine.shape[2:])}, the other {tuple(other.shape[2:])}; "
                    "only twice as large can be calibrated"
                )
            return _Select(self.no, _Factorized(mine.shape[1], filters))
        if mine.shape[1] != filters:
            return _Select(self.no, _projection(mine.shape[1], filters))
        return _Select(self.no, nn.Identity())


class _Select(nn.Module):
    """``module`` on input ``no`` of a pair (a single tensor is both)."""

    def __init__(self, no: int, module: nn.Module) -> None:
        super().__init__()
        self.no = no
        self.module = module

    def forward(self, x: Any) -> torch.Tensor:
        return self.module(x[self.no] if isinstance(x, (list, tuple)) else x)


class SafeConcatenate(HyperLayer):
    """A list of feature maps concatenated on the channels (one map stays as it is), brought back
    to ``filters`` channels by a 1x1 convolution."""

    def __init__(self, filters: Any, name: str | None = None) -> None:
        super().__init__(name, filters=filters)

    def build(self, x: Sequence[torch.Tensor], filters: Any) -> nn.Module:
        return nn.Sequential(_Concat(), _projection(sum(t.shape[1] for t in x), int(filters)))


class _Concat(nn.Module):
    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return inputs[0] if len(inputs) == 1 else torch.cat(list(inputs), dim=1)
