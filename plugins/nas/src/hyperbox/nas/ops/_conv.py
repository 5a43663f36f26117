"""Searchable convolutions: channels, kernel size, stride, dilation, groups and bias from ``ValueSpace``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import SearchableOp, copy_into, current, describe, is_space, sliced

__all__ = ["Conv1d", "Conv2d", "Conv3d", "DepthwiseConv2d"]

DEPTHWISE = "in_channels"  # ``groups=DEPTHWISE``: one group per (searchable) input channel


@dataclass(frozen=True)
class _ConvConfig:
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    use_bias: bool
    weight_index: tuple | None  # None: the whole weight, no slicing at all
    bias_index: slice | None
    transforms: tuple  # ((matrix name, centre-crop index, kernel shape), ...) from the largest kernel down


def _centre(allocated: int, size: int) -> slice:
    start = (allocated - size) // 2
    return slice(start, start + size)


class _ConvNd(SearchableOp):
    _dims: int
    _plain: type[nn.Module]

    def __init__(
        self,
        in_channels: Any,
        out_channels: Any,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = None,
        dilation: Any = 1,
        groups: Any = 1,
        bias: Any = True,
        transform_kernel: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias)
        # Arguments are kept as given: a ValueSpace attribute registers it as a child, so mutators find it.
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.groups = groups
        self.use_bias = bias
        self.padding = padding
        if not (padding is None or padding == "same" or isinstance(padding, (int, tuple, list))):
            raise ValueError(f"{type(self).__name__}: padding must be None, 'same', an int or a tuple, got {padding!r}")
        self._auto_padding = padding == "same" or (padding is None and is_space(kernel_size))

        kernel = tuple(self.allocated(k) for k in self._per_dim(kernel_size))
        max_in = self.allocated(in_channels)
        in_per_group = 1 if groups == DEPTHWISE else max_in // self.smallest(groups)
        self._max_in = max_in
        self.weight = nn.Parameter(torch.empty(self.allocated(out_channels), in_per_group, *kernel))
        self.bias = nn.Parameter(torch.empty(self.allocated(out_channels))) if self.allocated(bias) else None

        if is_space(kernel_size):
            odd_margin = [c for c in kernel_size.candidates if c <= kernel[0] and (kernel[0] - c) % 2]
            if odd_margin:
                raise ValueError(
                    f"{type(self).__name__}: kernel sizes {odd_margin} of ValueSpace {kernel_size.key!r} cannot be "
                    f"centre-cropped from {kernel[0]} (the difference must be even)"
                )
        self.kernel_transforms = self._make_transforms(kernel_size, kernel[0]) if transform_kernel else None
        self.reset_parameters()

    def _make_transforms(self, kernel_size: Any, allocated: int) -> nn.ParameterDict:
        """OFA kernel transformation: one (k^d x k^d) matrix per step between consecutive kernel sizes."""
        if not is_space(kernel_size):
            raise ValueError(f"{type(self).__name__}: transform_kernel=True needs kernel_size to be a ValueSpace")
        sizes = sorted({c for c in kernel_size.candidates if c <= allocated})
        return nn.ParameterDict(
            {f"{big}to{small}": nn.Parameter(torch.eye(small**self._dims)) for small, big in zip(sizes, sizes[1:])}
        )

    def _per_dim(self, argument: Any) -> tuple:
        if isinstance(argument, (tuple, list)):
            if len(argument) != self._dims:
                raise ValueError(f"{type(self).__name__}: expected {self._dims} values, got {argument!r}")
            return tuple(argument)
        return (argument,) * self._dims

    def reset_parameters(self) -> None:
        """The default torch initialisation, applied to the whole shared weight."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def configure(self) -> _ConvConfig:
        allocated_out, allocated_in_per_group, *allocated_kernel = self.weight.shape
        out_channels = self.fitted(self.out_channels, allocated_out, "out_channels")
        in_channels = self.fitted(self.in_channels, self._max_in, "in_channels")
        groups = in_channels if self.groups == DEPTHWISE else current(self.groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{type(self).__name__}: {in_channels} input and {out_channels} output channels "
                f"are not both divisible by groups={groups}"
            )
        in_per_group = in_channels // groups
        if in_per_group > allocated_in_per_group:
            raise ValueError(
                f"{type(self).__name__}: groups={groups} (ValueSpace "
                f"{getattr(self.groups, 'key', None)!r}) needs {in_per_group} input channels per group, "
                f"but the weight was allocated for at most {allocated_in_per_group}"
            )
        kernel = tuple(
            self.fitted(k, limit, "kernel_size") for k, limit in zip(self._per_dim(self.kernel_size), allocated_kernel)
        )
        dilation = tuple(current(d) for d in self._per_dim(self.dilation))
        if self._auto_padding:
            padding = tuple(k // 2 * d for k, d in zip(kernel, dilation))
        else:
            padding = self._per_dim(self.padding or 0)
        use_bias = bool(current(self.use_bias))
        if use_bias and self.bias is None:
            raise ValueError(
                f"{type(self).__name__}: ValueSpace {self.use_bias.key!r} chose a bias, but none was allocated"
            )

        channels = (slice(None, out_channels), slice(None, in_per_group))
        transforms: tuple = ()
        if self.kernel_transforms is not None and kernel[0] < allocated_kernel[0]:
            weight_index = channels
            sizes = sorted({c for c in self.kernel_size.candidates if kernel[0] <= c <= allocated_kernel[0]})
            transforms = tuple(
                (f"{big}to{small}", (..., *[_centre(big, small)] * self._dims), (small,) * self._dims)
                for big, small in zip(reversed(sizes), reversed(sizes[:-1]))
            )
        else:
            weight_index = (*channels, *(_centre(a, k) for a, k in zip(allocated_kernel, kernel)))
        if (out_channels, in_per_group, *kernel) == tuple(self.weight.shape):
            weight_index = None
        return _ConvConfig(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel,
            stride=tuple(current(s) for s in self._per_dim(self.stride)),
            padding=padding,
            dilation=dilation,
            groups=groups,
            use_bias=use_bias,
            weight_index=weight_index,
            bias_index=None if out_channels == allocated_out else slice(None, out_channels),
            transforms=transforms,
        )

    def active_weight(self) -> torch.Tensor:
        """The weight of the current decisions: a view of the shared weight, kernel-transformed if enabled."""
        return self._weight_of(self.active())

    def _weight_of(self, config: _ConvConfig) -> torch.Tensor:
        weight = sliced(self.weight, config.weight_index)
        for name, crop, shape in config.transforms:
            weight = F.linear(weight[crop].flatten(2), self.kernel_transforms[name]).unflatten(2, shape)
        return weight

    def _bias_of(self, config: _ConvConfig) -> torch.Tensor | None:
        return sliced(self.bias, config.bias_index) if config.use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        config = self.active()
        weight, bias = self._weight_of(config), self._bias_of(config)
        return self._functional(x, weight, bias, config.stride, config.padding, config.dilation, config.groups)

    def export_module(self) -> nn.Module:
        """A plain ``nn.ConvNd`` of the active sizes holding a copy of the active (transformed) weights."""
        config = self.active()
        plain = self._plain(
            config.in_channels,
            config.out_channels,
            config.kernel_size,
            stride=config.stride,
            padding=config.padding,
            dilation=config.dilation,
            groups=config.groups,
            bias=config.use_bias,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        copy_into(plain.weight, self._weight_of(config))
        copy_into(plain.bias, self._bias_of(config))
        return plain.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"{describe(self.in_channels)}, {describe(self.out_channels)}, kernel_size={describe(self.kernel_size)}, "
            f"stride={describe(self.stride)}, padding={self.padding!r}, dilation={describe(self.dilation)}, "
            f"groups={describe(self.groups)}, bias={describe(self.use_bias)}"
        )


class Conv1d(_ConvNd):
    """Searchable ``nn.Conv1d``; see :class:`Conv2d`."""

    _dims = 1
    _plain = nn.Conv1d
    _functional = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """Searchable ``nn.Conv2d`` slicing one shared weight.

    ``in_channels``, ``out_channels``, ``kernel_size``, ``stride``, ``dilation``, ``groups`` and
    ``bias`` may each be a ``ValueSpace`` (``bias``: candidates 0/1 or False/True). The active weight
    is the view ``weight[:out, :in // groups]`` with the kernel centre-cropped to the chosen size.
    Searchable tuples are not supported: a ``ValueSpace`` kernel size, stride or dilation applies to
    every spatial dimension.

    ``padding``: an int or tuple is used as given; ``"same"`` pads ``kernel // 2 * dilation`` per
    dimension for the *active* kernel (output size independent of the kernel choice); ``None``
    (default) means ``"same"`` when the kernel size is searchable and 0 otherwise.

    ``groups="in_channels"`` ties the groups to the active input channel count (depthwise; the
    weight then has one input channel per filter). A searchable ``groups`` shares the first
    ``in // groups`` input-channel slots of every filter.

    ``transform_kernel=True`` (Once-for-All): a smaller kernel is not the plain centre crop of the
    largest one; going down one candidate size at a time (7 -> 5 -> 3), the centre crop is
    flattened to ``k*k`` values and multiplied by a learned ``(k*k, k*k)`` matrix, initialised to
    the identity (so it starts as the plain centre crop). The matrices live in
    ``kernel_transforms`` under names such as ``"7to5"``.
    """

    _dims = 2
    _plain = nn.Conv2d
    _functional = staticmethod(F.conv2d)


class Conv3d(_ConvNd):
    """Searchable ``nn.Conv3d``; see :class:`Conv2d`."""

    _dims = 3
    _plain = nn.Conv3d
    _functional = staticmethod(F.conv3d)


class DepthwiseConv2d(Conv2d):
    """Depthwise :class:`Conv2d`: ``channels`` in and out, one group per active channel.

    The same ``channels`` value (or ``ValueSpace``) drives the input channels, the output channels
    and the groups, so choosing a width keeps the layer depthwise.
    """

    def __init__(
        self,
        channels: Any,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = None,
        dilation: Any = 1,
        bias: Any = True,
        transform_kernel: bool = False,
    ) -> None:
        super().__init__(channels, channels, kernel_size, stride, padding, dilation, DEPTHWISE, bias, transform_kernel)
