"""Vega's ``Quant`` process: mixed-precision fake quantisation of a network's convolutions.

As in Vega (``vega/search_space/fine_grained_space/handler/quant.py``, the fine-grained space's
``process: {type: Quant, nbit_w_list, nbit_a_list}``; ``vega/networks/quant.py`` and
``vega/modules/operators/quant/pytorch_quant.py`` in Vega 1.8), the process replaces, in module
order, every ``nn.Conv2d`` but the first (the stem, ``skip_1st_layer``) by a :class:`QuantConv`
whose weights are quantised to ``nbit_w_list[i]`` bits and whose input activations to
``nbit_a_list[i]`` bits. Linear layers stay full precision: for a CIFAR ResNet-20 the lists cover
the 18 convolutions of the 9 blocks and the 2 1x1 shortcut convolutions, 20 entries.

Quantisers (DoReFa-Net, Vega's default and the only one its ``Quant`` process builds), each with a
straight-through gradient through the rounding:

- weights, ``k >= 2`` bits: ``t = tanh(w) / (2 max|tanh(w)|) + 1/2``, then
  ``w_q = 2 round(t (2^k - 1)) / (2^k - 1) - 1`` (values in [-1, 1]: the following BatchNorm takes
  the scale); ``k = 1``: ``sign(w) * mean|w|``; ``k = 32``: ``w`` itself.
- activations, ``k < 32`` bits: ``round(clamp(x, 0, 1) (2^k - 1)) / (2^k - 1)``; ``k = 32``: ``x``.
- ``k = 0`` bits (weights or activations): Vega's identity mapping -- the layer passes its input
  on, subsampled by the stride and zero-padded (or cut) to ``out_channels``.

Departures from Vega: at 32 activation bits Vega's ``QuantConv`` applies a ReLU to its input; here
the input passes unchanged, so that a layer at 32/32 bits is exactly its plain convolution (the two
agree on a ResNet, whose convolutions all read ReLU outputs). The quantised layer keeps the
convolution's weights (as the seed's ``handler/quant.py``; Vega 1.8's ``Quantizer`` re-initialises
them). ``ModelBitsEstimator`` counts a quantised layer's bias at 32 bits (Vega scales all of the
layer's parameters by ``nbit_w / 32``; ResNet convolutions have no bias). Vega's other
``QuantConv`` schemes (PACT, WRPN, XNOR, Bi-Real), which its ``Quant`` process never selects, are
not ported.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperbox.nas.estimators import plain_network

__all__ = ["ModelBitsEstimator", "Quant", "QuantConv", "dorefa_activation", "dorefa_weight", "quantize"]

FULL_PRECISION = 32


def quantize(x: torch.Tensor, nbit: int) -> torch.Tensor:
    """``x`` in [0, 1] rounded to the ``2^nbit`` levels ``i / (2^nbit - 1)``, gradient passed straight through."""
    levels = 2**nbit - 1
    return x + (torch.round(x * levels) / levels - x).detach()


def dorefa_weight(w: torch.Tensor, nbit: int) -> torch.Tensor:
    """DoReFa weights at ``nbit`` bits (Vega's ``dorefa_w``): ``w`` itself at 32 bits, in [-1, 1] below."""
    if nbit >= FULL_PRECISION:
        return w
    if nbit == 1:
        return w + (torch.sign(w) * w.abs().mean() - w).detach()
    t = torch.tanh(w)
    t = t / (2 * t.abs().max().clamp_min(torch.finfo(t.dtype).tiny)) + 0.5
    return 2 * quantize(t, nbit) - 1


def dorefa_activation(x: torch.Tensor, nbit: int) -> torch.Tensor:
    """DoReFa activations at ``nbit`` bits (Vega's ``dorefa_a``): clamped to [0, 1] and rounded; ``x`` at 32 bits."""
    if nbit >= FULL_PRECISION:
        return x
    return quantize(x.clamp(0.0, 1.0), nbit)


class QuantConv(nn.Conv2d):
    """A ``Conv2d`` computing ``conv(dorefa_activation(x, nbit_a), dorefa_weight(w, nbit_w))`` (Vega's ``QuantConv``).

    ``nbit_w`` or ``nbit_a`` 0 makes the layer Vega's identity mapping; at 32 bits each side is
    left as it is, so ``QuantConv`` at 32/32 bits computes exactly its plain ``Conv2d``.
    """

    def __init__(self, *args: Any, nbit_w: int = 8, nbit_a: int = 8, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nbit_w = _bit_width(nbit_w, "nbit_w")
        self.nbit_a = _bit_width(nbit_a, "nbit_a")

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, nbit_w: int, nbit_a: int) -> QuantConv:
        """A ``QuantConv`` with the hyper-parameters of ``conv`` and its very parameters (shared, not copied)."""
        quant = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",
            nbit_w=nbit_w,
            nbit_a=nbit_a,
        )
        quant.weight = conv.weight
        quant.bias = conv.bias
        quant.train(conv.training)
        return quant

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.nbit_w == 0 or self.nbit_a == 0:
            return self._identity(input)
        weight = dorefa_weight(self.weight, self.nbit_w)
        x = dorefa_activation(input, self.nbit_a)
        return self._conv_forward(x, weight, self.bias)

    def _identity(self, x: torch.Tensor) -> torch.Tensor:
        """Vega's 0-bit layer: the input, subsampled by the stride, its channels zero-padded evenly on both sides."""
        x = x[:, :, :: self.stride[0], :: self.stride[1]]
        missing = self.out_channels - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, missing // 2, missing - missing // 2))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nbit_w={self.nbit_w}, nbit_a={self.nbit_a}"


class Quant:
    """Vega's ``Quant`` process: ``Quant(nbit_w_list, nbit_a_list).apply(network)`` quantises ``network``.

    Every ``nn.Conv2d`` of ``network`` in module order, but the first one when ``skip_1st_layer``
    (Vega's default) and those with ``groups > 1`` (as Vega 1.8's ``Quantizer``), becomes a
    :class:`QuantConv` sharing the convolution's parameters, with the next entries of
    ``nbit_w_list`` (weight bits) and ``nbit_a_list`` (input activation bits). A single number
    stands for every layer; both ``None`` leave the network as it is (Vega's behaviour). A list
    longer than the layers is read from its start, with a warning (Vega reads the entries it needs:
    the guide's 20 widths fit ResNet-20's 20 quantised convolutions, and ResNet-18's 19). The
    network is changed in place and returned.
    """

    def __init__(
        self,
        nbit_w_list: Sequence[int] | int | None = 8,
        nbit_a_list: Sequence[int] | int | None = 8,
        skip_1st_layer: bool = True,
    ) -> None:
        if (nbit_w_list is None) != (nbit_a_list is None):
            raise ValueError("nbit_w_list and nbit_a_list: give both or neither")
        self.nbit_w_list = _bit_widths(nbit_w_list, "nbit_w_list")
        self.nbit_a_list = _bit_widths(nbit_a_list, "nbit_a_list")
        self.skip_1st_layer = bool(skip_1st_layer)

    def layers(self, network: nn.Module) -> list[str]:
        """The qualified names of the convolutions :meth:`apply` quantises, in the lists' order."""
        convs = [(name, m) for name, m in network.named_modules() if isinstance(m, nn.Conv2d)]
        if self.skip_1st_layer:
            convs = convs[1:]
        return [name for name, conv in convs if conv.groups == 1]

    def apply(self, network: nn.Module) -> nn.Module:
        if self.nbit_w_list is None or self.nbit_a_list is None:
            return network
        names = self.layers(network)
        which = "every Conv2d but the first" if self.skip_1st_layer else "every Conv2d"
        widths = {}
        for key, given in (("nbit_w_list", self.nbit_w_list), ("nbit_a_list", self.nbit_a_list)):
            if isinstance(given, int):
                given = [given] * len(names)
            elif len(given) < len(names):
                raise ValueError(
                    f"{key}: {len(given)} bit widths for the {len(names)} quantised convolutions "
                    f"({which} with groups=1, in module order)"
                )
            elif len(given) > len(names):  # Vega reads the entries it needs and leaves the rest
                warnings.warn(
                    f"{key}: {len(given)} bit widths for the {len(names)} quantised convolutions ({which} with "
                    f"groups=1, in module order): the last {len(given) - len(names)} unused",
                    stacklevel=2,
                )
            widths[key] = given
        for name, nbit_w, nbit_a in zip(names, widths["nbit_w_list"], widths["nbit_a_list"]):
            parent_name, _, child = name.rpartition(".")
            parent = network.get_submodule(parent_name)
            setattr(parent, child, QuantConv.from_conv(getattr(parent, child), nbit_w, nbit_a))
        return network


class ModelBitsEstimator:
    """The network's size in bits: each :class:`QuantConv`'s weight at its ``nbit_w`` bits, every
    other parameter (biases, BatchNorm, the stem, the head) at 32. Shared parameters count once;
    buffers (BatchNorm statistics) do not count, as for the ``params`` estimator."""

    def __init__(self, name: str = "model_bits") -> None:
        self.name = name

    def __call__(self, model: nn.Module, data: Any = None, context: Any = None) -> dict[str, int]:
        network = plain_network(model)
        widths = {id(m.weight): m.nbit_w for m in network.modules() if isinstance(m, QuantConv)}
        return {self.name: sum(p.numel() * widths.get(id(p), FULL_PRECISION) for p in network.parameters())}


def _bit_width(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= FULL_PRECISION:
        raise ValueError(f"{key}: expected a bit width from 0 to {FULL_PRECISION}, got {value!r}")
    return int(value)


def _bit_widths(given: Any, key: str) -> list[int] | int | None:
    if given is None:
        return None
    if isinstance(given, numbers.Integral) and not isinstance(given, bool):
        return _bit_width(given, key)
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ValueError(f"{key}: expected a list of bit widths (or one for every layer), got {given!r}")
    return [_bit_width(value, f"{key}[{i}]") for i, value in enumerate(given)]
