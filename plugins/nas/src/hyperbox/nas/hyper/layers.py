"""Layers named as Hypernets' (Keras) layers, whose arguments may be parameters and whose input
size is read at their first call, so that a space is written without computing shapes by hand.

A layer builds a plain PyTorch module the first time it runs under given argument values and input
shape (``Dense(units=64)`` on a ``(N, 10)`` batch builds ``nn.Linear(10, 64)``) and keeps it for
that configuration; ``build_subnet`` exports the module built for the current decisions. Tensors
are PyTorch's ``(N, C, H, W)``; ``padding="same"`` pads as Keras does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.nas.hyper.params import value_of

__all__ = [
    "Activation",
    "Add",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "HyperLayer",
    "Identity",
    "MaxPooling2D",
    "SeparableConv2D",
    "activation_module",
]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}


def activation_module(name: Any, where: str = "activation") -> nn.Module:
    """The module of a Keras activation name (``None`` or ``"linear"``: none)."""
    if name is None:
        return nn.Identity()
    factory = ACTIVATIONS.get(name)
    if factory is None:
        raise ValueError(f"{where}: unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return factory()


def _check_activation(argument: Any, where: str) -> None:
    """Every name ``argument`` may take is a known activation (checked when the space is written)."""
    for name in getattr(argument, "candidates", None) or ([] if isinstance(argument, nn.Module) else [argument]):
        activation_module(name, where)


class HyperLayer(nn.Module):
    """A layer built on its first call for each configuration (argument values and input shape).

    Subclasses pass their arguments to ``__init__`` (parameters among them are registered here,
    where they get their keys) and implement :meth:`build`. ``name`` (as Keras' ``name='fc1'``)
    names the layer's parameters' keys (``fc1.units``).
    """

    def __init__(self, name: str | None = None, **arguments: Any) -> None:
        super().__init__()
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise ValueError(f"{type(self).__name__}: name {name!r} must be a non-empty string without dots")
        self.layer_name = name
        self._arguments = arguments
        for name, argument in arguments.items():
            if isinstance(argument, nn.Module):
                self.add_module(name, argument)
        #: the modules built, one per configuration met
        self.built = nn.ModuleDict()
        self._names: dict[tuple, str] = {}
        #: the module last run under each set of argument values
        self._last: dict[str, str] = {}

    def values(self) -> dict[str, Any]:
        """The arguments' current values."""
        return {name: value_of(argument) for name, argument in self._arguments.items()}

    def build(self, x: Any, **values: Any) -> nn.Module:
        """A plain module for input ``x`` (a tensor, or a list of them) under the argument ``values``."""
        raise NotImplementedError

    def forward(self, x: Any) -> Any:
        values = self.values()
        tensors = list(x) if isinstance(x, (list, tuple)) else [x]
        chosen = repr(sorted(values.items()))
        configuration = (chosen, tuple(tuple(t.shape[1:]) for t in tensors))
        name = self._names.get(configuration)
        if name is None:
            name = f"config{len(self._names)}"
            module = self.build(x, **values)
            dtype = tensors[0].dtype if tensors[0].is_floating_point() else None
            self.built[name] = module.to(device=tensors[0].device, dtype=dtype).train(self.training)
            self._names[configuration] = name
        self._last[chosen] = name
        return self.built[name](x)

    def export_module(self) -> nn.Module:
        """The module built for the current argument values (the one last run under them)."""
        name = self._last.get(repr(sorted(self.values().items())))
        if name is None:
            raise ValueError(
                f"{type(self).__name__}: not built for the current decisions, since its input size is known only "
                "once it runs; wrap the space in HyperSpace(module, input_shape=...) or run it on a batch first"
            )
        return self.built[name]

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.values().items())


def _images(x: Any, kind: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{kind}: expects images (N, C, H, W), got {shape}")


def _check_positive(argument: Any, kind: str, name: str) -> None:
    """Every value ``argument`` may take (a number, or a choice's options) is a positive number."""
    options = getattr(argument, "candidates", None) or ([] if isinstance(argument, nn.Module) else [argument])
    bad = [v for v in options if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0]
    if bad:
        raise ValueError(f"{kind}: {name} must be positive, got {bad[0]!r}")


def _check_padding(padding: Any, kind: str) -> None:
    if padding not in ("same", "valid"):
        raise ValueError(f"{kind}: padding {padding!r} must be 'same' or 'valid'")


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras' ``same`` padding (before, after) of one spatial dimension."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padded(x: torch.Tensor, kernel: Any, strides: Any, padding: str, layer: nn.Module, fill: float = 0.0) -> nn.Module:
    """``layer`` (built without padding) after the padding ``padding`` needs on ``x``."""
    if padding == "valid":
        return layer
    (kh, kw), (sh, sw) = _pair(kernel), _pair(strides)
    top, bottom = _same_padding(x.shape[2], kh, sh)
    left, right = _same_padding(x.shape[3], kw, sw)
    if not (top or bottom or left or right):
        return layer
    return nn.Sequential(nn.ConstantPad2d((left, right, top, bottom), fill), layer)


class Dense(HyperLayer):
    """A fully connected layer of ``units`` outputs on the last dimension, then ``activation``."""

    def __init__(self, units: Any, activation: Any = None, use_bias: bool = True, name: str | None = None) -> None:
        _check_activation(activation, "Dense")
        _check_positive(units, "Dense", "units")
        super().__init__(name, units=units, activation=activation, use_bias=use_bias)

    def build(self, x: torch.Tensor, units: Any, activation: Any, use_bias: bool) -> nn.Module:
        if x.dim() < 2:
            raise ValueError(f"Dense: expects a batch of vectors (N, ..., features), got {tuple(x.shape)}")
        linear = nn.Linear(x.shape[-1], int(units), bias=use_bias)
        return linear if activation is None else nn.Sequential(linear, activation_module(activation))


class Activation(HyperLayer):
    """``activation`` by its Keras name (``relu``, ``tanh``, ...)."""

    def __init__(self, activation: Any, name: str | None = None) -> None:
        _check_activation(activation, "Activation")
        super().__init__(name, activation=activation)

    def build(self, x: torch.Tensor, activation: Any) -> nn.Module:
        return activation_module(activation)


class Dropout(HyperLayer):
    """Drops inputs with probability ``rate`` in training."""

    def __init__(self, rate: Any, name: str | None = None) -> None:
        super().__init__(name, rate=rate)

    def build(self, x: torch.Tensor, rate: Any) -> nn.Module:
        return nn.Dropout(float(rate))


class BatchNormalization(HyperLayer):
    """Batch normalisation over the channels (dimension 1), of a vector or an image batch.

    ``momentum`` is Keras' (the share of the old running statistics kept at each step); its default
    is PyTorch's 0.9, since Keras' 0.99 leaves the statistics of a model trained a few epochs (a
    trial) far from its data, and such a model then scores at chance in evaluation."""

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-3, name: str | None = None) -> None:
        super().__init__(name, momentum=momentum, epsilon=epsilon)

    def build(self, x: torch.Tensor, momentum: float, epsilon: float) -> nn.Module:
        norm = nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d
        return norm(x.shape[1], eps=epsilon, momentum=1.0 - momentum)  # Keras' momentum keeps the old stats


class Conv2D(HyperLayer):
    """A 2-d convolution of ``filters`` output channels, then ``activation``."""

    def __init__(
        self,
        filters: Any,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        activation: Any = None,
        name: str | None = None,
    ) -> None:
        _check_activation(activation, "Conv2D")
        _check_padding(padding, "Conv2D")
        _check_positive(filters, "Conv2D", "filters")
        super().__init__(
            name, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding, activation=activation
        )

    def build(
        self, x: torch.Tensor, filters: Any, kernel_size: Any, strides: Any, padding: str, activation: Any
    ) -> nn.Module:
        _images(x, "Conv2D")
        conv = nn.Conv2d(x.shape[1], int(filters), _pair(kernel_size), _pair(strides))
        layer = _padded(x, kernel_size, strides, padding, conv)
        return layer if activation is None else nn.Sequential(layer, activation_module(activation))


class SeparableConv2D(HyperLayer):
    """A depthwise convolution followed by a pointwise one of ``filters`` output channels."""

    def __init__(
        self, filters: Any, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid", name: str | None = None
    ) -> None:
        _check_padding(padding, "SeparableConv2D")
        super().__init__(name, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding)

    def build(self, x: torch.Tensor, filters: Any, kernel_size: Any, strides: Any, padding: str) -> nn.Module:
        _images(x, "SeparableConv2D")
        channels = x.shape[1]
        depthwise = nn.Conv2d(channels, channels, _pair(kernel_size), _pair(strides), groups=channels, bias=False)
        return nn.Sequential(_padded(x, kernel_size, strides, padding, depthwise), nn.Conv2d(channels, int(filters), 1))


class _Pooling(HyperLayer):
    def __init__(
        self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid", name: str | None = None
    ) -> None:
        _check_padding(padding, type(self).__name__)
        super().__init__(name, pool_size=pool_size, strides=strides, padding=padding)

    def build(self, x: torch.Tensor, pool_size: Any, strides: Any, padding: str) -> nn.Module:
        _images(x, type(self).__name__)
        strides = pool_size if strides is None else strides
        return _padded(x, pool_size, strides, padding, self._pool(_pair(pool_size), _pair(strides)), self._fill)


class MaxPooling2D(_Pooling):
    """Max pooling (``strides`` default: ``pool_size``); ``same`` pads with -inf, as Keras."""

    _fill = -math.inf

    @staticmethod
    def _pool(size: tuple[int, int], strides: tuple[int, int]) -> nn.Module:
        return nn.MaxPool2d(size, strides)


class AveragePooling2D(_Pooling):
    """Average pooling (``strides`` default: ``pool_size``)."""

    _fill = 0.0

    @staticmethod
    def _pool(size: tuple[int, int], strides: tuple[int, int]) -> nn.Module:
        return nn.AvgPool2d(size, strides)


class GlobalAveragePooling2D(nn.Module):
    """The mean over the spatial dimensions: ``(N, C, H, W)`` to ``(N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Flatten(nn.Flatten):
    """Everything but the batch dimension in one."""


class Identity(nn.Identity):
    """The input, unchanged."""


class Add(nn.Module):
    """The sum of a list of tensors (``None`` entries, dropped links, are left out)."""

    def forward(self, inputs: Sequence[torch.Tensor | None]) -> torch.Tensor:
        present = [x for x in inputs if x is not None]
        total = present[0]
        for x in present[1:]:
            total = total + x
        return total


class Concatenate(nn.Module):
    """A list of tensors joined along ``axis`` (1: channels; ``None`` entries left out)."""

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, inputs: Sequence[torch.Tensor | None]) -> torch.Tensor:
        return torch.cat([x for x in inputs if x is not None], dim=self.axis)
