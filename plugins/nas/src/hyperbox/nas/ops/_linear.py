"""Searchable fully connected layer: in/out features and bias from ``ValueSpace``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import SearchableOp, copy_into, current, describe, sliced

__all__ = ["Linear"]


@dataclass(frozen=True)
class _LinearConfig:
    in_features: int
    out_features: int
    use_bias: bool
    weight_index: tuple | None  # None: the whole weight
    bias_index: slice | None


class Linear(SearchableOp):
    """Searchable ``nn.Linear``: the active weight is the view ``weight[:out, :in]``.

    ``in_features``, ``out_features`` and ``bias`` (candidates 0/1 or False/True) may be ``ValueSpace``.
    """

    def __init__(self, in_features: Any, out_features: Any, bias: Any = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = bias
        self.weight = nn.Parameter(torch.empty(self.allocated(out_features), self.allocated(in_features)))
        self.bias = nn.Parameter(torch.empty(self.allocated(out_features))) if self.allocated(bias) else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The default torch initialisation, applied to the whole shared weight."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight.shape[1])
            nn.init.uniform_(self.bias, -bound, bound)

    def configure(self) -> _LinearConfig:
        allocated_out, allocated_in = self.weight.shape
        out_features = self.fitted(self.out_features, allocated_out, "out_features")
        in_features = self.fitted(self.in_features, allocated_in, "in_features")
        use_bias = bool(current(self.use_bias))
        if use_bias and self.bias is None:
            raise ValueError(f"Linear: ValueSpace {self.use_bias.key!r} chose a bias, but none was allocated")
        whole = (out_features, in_features) == (allocated_out, allocated_in)
        return _LinearConfig(
            in_features=in_features,
            out_features=out_features,
            use_bias=use_bias,
            weight_index=None if whole else (slice(None, out_features), slice(None, in_features)),
            bias_index=None if out_features == allocated_out else slice(None, out_features),
        )

    def active_weight(self) -> torch.Tensor:
        return self._weight_of(self.active())

    def _weight_of(self, config: _LinearConfig) -> torch.Tensor:
        return sliced(self.weight, config.weight_index)

    def _bias_of(self, config: _LinearConfig) -> torch.Tensor | None:
        return sliced(self.bias, config.bias_index) if config.use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        config = self.active()
        return F.linear(x, self._weight_of(config), self._bias_of(config))

    def export_module(self) -> nn.Linear:
        """A plain ``nn.Linear`` of the active sizes holding a copy of the active weights."""
        config = self.active()
        plain = nn.Linear(
            config.in_features, config.out_features, config.use_bias, device=self.weight.device, dtype=self.weight.dtype
        )
        copy_into(plain.weight, self._weight_of(config))
        copy_into(plain.bias, self._bias_of(config))
        return plain.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"in_features={describe(self.in_features)}, out_features={describe(self.out_features)}, "
            f"bias={describe(self.use_bias)}"
        )
