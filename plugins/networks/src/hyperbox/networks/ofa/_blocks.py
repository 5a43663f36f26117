"""The elastic pieces of the Once-for-All MobileNetV3: inverted-residual blocks and stages of elastic depth.

Layer for layer as OFA's ``DynamicMBConvLayer`` (mit-han-lab/once-for-all,
``elastic_nn/modules/dynamic_layers.py``): a 1x1 inverted bottleneck sliced to the expand ratio's
width, a depthwise convolution of elastic kernel size (smaller kernels through the learned
kernel-transform matrices), squeeze-and-excite on the middle channels, and a 1x1 linear projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import Categorical
from hyperbox.nas.ops import BatchNorm2d, Conv2d, DepthwiseConv2d
from hyperbox.nas.spaces import ValueSpace

__all__ = ["ACTIVATIONS", "BlockChoices", "ElasticStage", "MBConvBlock", "make_divisible", "middle_channels"]

#: The activations MobileNetV3 uses, by OFA's names (h-swish = x * relu6(x + 3) / 6).
ACTIVATIONS = {"relu": nn.ReLU, "h_swish": nn.Hardswish}

#: Channel counts are rounded to multiples of this (OFA's ``MyNetwork.CHANNEL_DIVISIBLE``).
CHANNEL_DIVISOR = 8
#: Squeeze-and-excite keeps a quarter of the channels (OFA's ``SEModule.REDUCTION``).
SE_REDUCTION = 4


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``), never more
    than 10% below ``value`` -- the TensorFlow MobileNet rule that OFA uses for every width."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def middle_channels(in_channels: int, expand_ratio: float) -> int:
    """Width of an MBConv block's middle (depthwise) layer for an expand ratio."""
    return make_divisible(round(in_channels * expand_ratio))


def squeeze_channels(middle: int) -> int:
    """Width of the squeeze-and-excite bottleneck on ``middle`` channels."""
    return make_divisible(middle // SE_REDUCTION)


class _ChannelsOfRatio(ValueSpace):
    """An expand-ratio decision read as a channel count.

    The searchable ops size themselves by ``value`` (channels), while the domain is labelled by the
    expand ratios: users read ratios, and every such space of one block shares the expand key.
    """

    def __init__(self, channels: Sequence[int], ratios: Sequence[float], key: str, mask: Any) -> None:
        super().__init__(channels, key=key, mask=mask)
        self.domain = Categorical(len(ratios), labels=ratios)


class BlockChoices(nn.Module):
    """The decisions of one elastic MBConv block: ``<key>.kernel`` and ``<key>.expand``.

    ``middle`` (and ``squeeze`` with squeeze-and-excite) are the channel counts the expand ratio
    gives, as spaces under the expand key. A stage keeps the choices of all its blocks, even of
    blocks a fixed subnet leaves out, so its architecture keys match the supernet's.
    """

    def __init__(
        self,
        key: str,
        in_channels: int,
        kernel_sizes: Sequence[int],
        expand_ratios: Sequence[float],
        use_se: bool,
        mask: Any = None,
    ) -> None:
        super().__init__()
        self.kernel = ValueSpace(kernel_sizes, key=f"{key}.kernel", mask=mask)
        middles = [middle_channels(in_channels, ratio) for ratio in expand_ratios]
        self.middle = _ChannelsOfRatio(middles, expand_ratios, f"{key}.expand", mask)
        squeezes = [squeeze_channels(middle) for middle in middles]
        self.squeeze = _ChannelsOfRatio(squeezes, expand_ratios, f"{key}.expand", mask) if use_se else None


class SqueezeExcite(nn.Module):
    """Channel attention: global pooling, 1x1 reduce (bias) + ReLU, 1x1 expand (bias) + h-sigmoid."""

    def __init__(self, channels: Any, squeeze: Any) -> None:
        super().__init__()
        self.reduce = Conv2d(channels, squeeze, 1, bias=True)
        self.activation = nn.ReLU()
        self.expand = Conv2d(squeeze, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.activation(self.reduce(scale))))


class MBConvBlock(nn.Module):
    """MobileNetV3 inverted-residual block; elastic where its sizes are ``ValueSpace`` (OFA's DynamicMBConvLayer).

    Args:
        in_channels, out_channels: fixed widths.
        kernel_size: the depthwise kernel (an int, or the block's kernel space).
        middle: the middle width (an int, or the space an expand ratio drives).
        squeeze: the squeeze-and-excite width (same), or ``None`` without squeeze-and-excite.
        stride: of the depthwise convolution; a residual connection is added when the stride is 1
            and the widths match.
        activation: ``"relu"`` or ``"h_swish"``, after the bottleneck and the depthwise layer.
        expand: whether there is a 1x1 inverted bottleneck (OFA omits it for expand ratio 1).
        bn_param: BatchNorm ``(momentum, eps)``.
        transform_kernel: smaller kernels through OFA's kernel-transform matrices.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        middle: Any,
        squeeze: Any,
        stride: int,
        activation: str,
        expand: bool,
        bn_param: tuple[float, float],
        transform_kernel: bool,
    ) -> None:
        super().__init__()
        momentum, eps = bn_param
        self.inverted_bottleneck = (
            nn.Sequential(
                Conv2d(in_channels, middle, 1, bias=False),
                BatchNorm2d(middle, eps=eps, momentum=momentum),
                ACTIVATIONS[activation](),
            )
            if expand
            else None
        )
        depth_conv = [
            DepthwiseConv2d(middle, kernel_size, stride, "same", bias=False, transform_kernel=transform_kernel),
            BatchNorm2d(middle, eps=eps, momentum=momentum),
            ACTIVATIONS[activation](),
        ]
        if squeeze is not None:
            depth_conv.append(SqueezeExcite(middle, squeeze))
        self.depth_conv = nn.Sequential(*depth_conv)
        self.point_linear = nn.Sequential(
            Conv2d(middle, out_channels, 1, bias=False), BatchNorm2d(out_channels, eps=eps, momentum=momentum)
        )
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.inverted_bottleneck is None else self.inverted_bottleneck(x)
        out = self.point_linear(self.depth_conv(out))
        return out + x if self.residual else out

    @torch.no_grad()
    def sort_middle_channels(self, kept_widths: Sequence[int] = ()) -> None:
        """OFA's channel sorting before an elastic-expand phase (``re_organize_middle_weights``).

        The middle channels are reordered by importance, the L1 norm of their point-linear
        weights, most important first, so that a smaller expand ratio keeps the best channels.
        ``kept_widths`` (widths already trained elastically) bound segments that are sorted each
        on its own, so those widths keep their channel sets. The function of the block is unchanged.
        """
        if self.inverted_bottleneck is None:
            return  # the middle channels are the block's input: nothing of ours to reorder
        importance = self.point_linear[0].weight.abs().sum(dim=(0, 2, 3))
        segment = torch.zeros_like(importance)
        for width in kept_widths:
            segment[width:] += 1
        order = torch.argsort(-importance, stable=True)
        order = order[torch.argsort(segment[order], stable=True)]

        def permute(tensor: torch.Tensor | None, dim: int = 0) -> None:
            if tensor is not None:
                tensor.copy_(tensor.index_select(dim, order))

        bottleneck_conv, bottleneck_norm = self.inverted_bottleneck[0], self.inverted_bottleneck[1]
        depthwise, depthwise_norm = self.depth_conv[0], self.depth_conv[1]
        permute(bottleneck_conv.weight)
        permute(depthwise.weight)
        for norm in (bottleneck_norm, depthwise_norm):
            for tensor in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
                permute(tensor)
        if len(self.depth_conv) > 3:
            squeeze_excite = self.depth_conv[3]
            permute(squeeze_excite.reduce.weight, dim=1)
            permute(squeeze_excite.expand.weight)
            permute(squeeze_excite.expand.bias)
        permute(self.point_linear[0].weight, dim=1)


class ElasticStage(nn.Module):
    """A stage of elastic depth: the first ``<key>.depth`` blocks run, the others are skipped.

    Built with a decided depth (a fixed subnet), only that many blocks exist. ``export_module``
    (used by ``build_subnet``) keeps just the blocks that run, as an ``nn.Sequential``.
    """

    def __init__(
        self,
        key: str,
        in_channels: int,
        width: int,
        stride: int,
        activation: str,
        use_se: bool,
        kernel_sizes: Sequence[int],
        expand_ratios: Sequence[float],
        depths: Sequence[int],
        bn_param: tuple[float, float],
        mask: Any = None,
    ) -> None:
        super().__init__()
        self.depth = ValueSpace(depths, key=f"{key}.depth", mask=mask)
        block_inputs = [in_channels] + [width] * (max(depths) - 1)
        self.choices = nn.ModuleList(
            BlockChoices(f"{key}.block{index}", channels, kernel_sizes, expand_ratios, use_se, mask)
            for index, channels in enumerate(block_inputs)
        )
        # A fixed subnet has one kernel size per block: no smaller kernel to transform into.
        supernet = mask is None
        built = max(depths) if supernet else self.depth.value
        self.blocks = nn.ModuleList(
            MBConvBlock(
                block_inputs[index],
                width,
                choices.kernel,
                choices.middle,
                choices.squeeze,
                stride if index == 0 else 1,
                activation,
                expand=max(expand_ratios) != 1,
                bn_param=bn_param,
                transform_kernel=supernet,
            )
            for index, choices in enumerate(islice(self.choices, built))
        )

    def active_depth(self) -> int:
        depth = self.depth.value
        if depth > len(self.blocks):
            raise ValueError(
                f"ValueSpace {self.depth.key!r} chose depth {depth}, but this stage was built "
                f"with {len(self.blocks)} blocks (a fixed subnet); build the supernet to change it"
            )
        return depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in islice(self.blocks, self.active_depth()):
            x = block(x)
        return x

    def sort_middle_channels(self, expand_stage: int) -> None:
        """Sort every block's middle channels; ``expand_stage`` expand ratios below the largest
        were trained elastically already and keep their channel sets (OFA's ``expand_ratio_stage``)."""
        for choices, block in zip(self.choices, self.blocks):
            widths = sorted(choices.middle.candidates)
            block.sort_middle_channels(widths[len(widths) - 1 - expand_stage : -1])

    def export_module(self) -> nn.Sequential:
        """The blocks that run, in order (their searchable ops are exported afterwards)."""
        return nn.Sequential(*islice(self.blocks, self.active_depth()))
