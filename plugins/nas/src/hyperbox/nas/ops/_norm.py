"""Searchable normalisation: BatchNorm over a searchable channel count, LayerNorm over a searchable width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import SearchableOp, copy_into, describe, sliced

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm"]


@dataclass(frozen=True)
class _BatchNormConfig:
    num_features: int
    index: slice | None  # None: all channels


class _BatchNorm(SearchableOp):
    _plain: type[nn.Module]

    def __init__(
        self,
        num_features: Any,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        size = self.allocated(num_features)
        self.weight = nn.Parameter(torch.ones(size)) if affine else None
        self.bias = nn.Parameter(torch.zeros(size)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(size))
            self.register_buffer("running_var", torch.ones(size))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._allocated = size

    def configure(self) -> _BatchNormConfig:
        features = self.fitted(self.num_features, self._allocated, "num_features")
        return _BatchNormConfig(features, None if features == self._allocated else slice(None, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = self.active().index
        average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as in torch
                average_factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or not self.track_running_stats
        # The running-stat slices are views: F.batch_norm updates them in place, so only the
        # active channels of the shared statistics move.
        keep_stats = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            sliced(self.running_mean, index) if keep_stats else None,
            sliced(self.running_var, index) if keep_stats else None,
            sliced(self.weight, index),
            sliced(self.bias, index),
            use_batch_stats,
            average_factor,
            self.eps,
        )

    def export_module(self) -> nn.Module:
        """A plain ``nn.BatchNormNd`` of the active width with the active affine weights and running stats."""
        config = self.active()
        plain = self._plain(
            config.num_features,
            self.eps,
            self.momentum,
            self.affine,
            self.track_running_stats,
        )
        reference = self.weight if self.affine else self.running_mean
        if reference is not None:
            plain.to(reference)  # device and float dtype; num_batches_tracked stays an integer
        for name in ("weight", "bias", "running_mean", "running_var"):
            copy_into(getattr(plain, name), sliced(getattr(self, name), config.index))
        copy_into(plain.num_batches_tracked, self.num_batches_tracked)
        return plain.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"{describe(self.num_features)}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Searchable ``nn.BatchNorm1d``; see :class:`BatchNorm2d`."""

    _plain = nn.BatchNorm1d


class BatchNorm2d(_BatchNorm):
    """Searchable ``nn.BatchNorm2d``: ``num_features`` may be a ``ValueSpace``.

    The affine weights and running statistics are shared and sliced to the first ``num_features``
    channels; in training only that slice of the running statistics is updated (the other
    channels keep the statistics of the widths that use them). ``num_batches_tracked`` is shared.
    """

    _plain = nn.BatchNorm2d


class BatchNorm3d(_BatchNorm):
    """Searchable ``nn.BatchNorm3d``; see :class:`BatchNorm2d`."""

    _plain = nn.BatchNorm3d


@dataclass(frozen=True)
class _LayerNormConfig:
    shape: tuple[int, ...]
    index: tuple | None  # None: the whole weight


class LayerNorm(SearchableOp):
    """Searchable ``nn.LayerNorm``: each entry of ``normalized_shape`` may be a ``ValueSpace``.

    The affine weights are sliced to the first entries of each normalised dimension, as in
    AutoFormer's super LayerNorm (the active embedding is always the leading features).
    """

    def __init__(
        self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True
    ) -> None:
        dims = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
        super().__init__(*dims)
        self.normalized_shape = normalized_shape
        for position, dim in enumerate(dims):
            setattr(self, f"dim{position}", dim)  # registers each ValueSpace so mutators find it
        self._dims = dims
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._allocated = tuple(self.allocated(dim) for dim in dims)
        self.weight = nn.Parameter(torch.ones(self._allocated)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(self._allocated)) if elementwise_affine and bias else None

    def configure(self) -> _LayerNormConfig:
        shape = tuple(self.fitted(dim, limit, "normalized_shape") for dim, limit in zip(self._dims, self._allocated))
        return _LayerNormConfig(shape, None if shape == self._allocated else tuple(slice(None, n) for n in shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        config = self.active()
        return F.layer_norm(
            x, config.shape, sliced(self.weight, config.index), sliced(self.bias, config.index), self.eps
        )

    def export_module(self) -> nn.LayerNorm:
        """A plain ``nn.LayerNorm`` of the active shape with the active affine weights."""
        config = self.active()
        plain = nn.LayerNorm(config.shape, self.eps, self.elementwise_affine, bias=self.bias is not None)
        if self.weight is not None:
            plain.to(self.weight)
        copy_into(plain.weight, sliced(self.weight, config.index))
        copy_into(plain.bias, sliced(self.bias, config.index))
        return plain.train(self.training)

    def extra_repr(self) -> str:
        shape = ", ".join(describe(dim) for dim in self._dims)
        return f"({shape}), eps={self.eps}, elementwise_affine={self.elementwise_affine}"
