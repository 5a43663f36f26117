"""The Once-for-All MobileNetV3 supernet (Cai et al., ICLR 2020)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.networks.base import BaseNASNetwork
from hyperbox.networks.ofa._blocks import ElasticStage, MBConvBlock, make_divisible

__all__ = ["OFAMobileNetV3"]

# The reference network's layout (ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py).
STEM_WIDTH, FIRST_BLOCK_WIDTH = 16, 16
STAGE_WIDTHS = (24, 40, 80, 112, 160)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_ACTIVATIONS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
STAGE_SE = (False, True, False, True, True)
FINAL_EXPAND_WIDTH, FEATURE_MIX_WIDTH = 960, 1280

#: The three elastic dimensions, by the suffix of their architecture keys.
ELASTIC_DIMENSIONS = ("kernel", "depth", "expand")


def _sorted_choices(name: str, values: Sequence[Any], valid: Any, requirement: str) -> list:
    values = sorted(set(values))
    if not values or not all(valid(value) for value in values):
        raise ValueError(f"OFAMobileNetV3: {name}={values!r} must be a non-empty list of {requirement}")
    return values


class OFAMobileNetV3(BaseNASNetwork):
    """The Once-for-All MobileNetV3 search space, layer for layer as the reference implementation.

    Stem 3x3 conv (stride 2, h-swish), a fixed MBConv block (expand 1, ReLU), five stages of
    elastic MBConv blocks (widths 24, 40, 80, 112, 160 times ``width_mult``, strides 2, 2, 2, 1, 2,
    squeeze-and-excite in stages 2, 4 and 5, h-swish from stage 3 on), a 1x1 final expand layer
    (960, BN, h-swish), global average pooling, a 1x1 feature-mix layer (1280, no BN, h-swish) and
    a dropout + linear classifier. Widths are rounded with ``make_divisible(width * width_mult, 8)``.

    Architecture keys (decisions are indices into the sorted lists, as for every ``ValueSpace``):
    ``stage<s>.depth`` (s = 1..5), ``stage<s>.block<b>.kernel`` and ``stage<s>.block<b>.expand``
    (b = 0 .. max depth - 1); a stage of depth d runs its first d blocks. :meth:`arch_for`
    builds an architecture from the values themselves, as OFA's ``set_active_subnet(ks, e, d)``.

    ``mask=arch`` builds only that subnet (its parameter count is that of ``build_subnet(arch)``).
    ``in_channels`` (default 3) lets grayscale datasets feed the stem directly.
    """

    def __init__(
        self,
        kernel_size_list: Sequence[int] = (3, 5, 7),
        expand_ratio_list: Sequence[float] = (3, 4, 6),
        depth_list: Sequence[int] = (2, 3, 4),
        width_mult: float = 1.0,
        num_classes: int = 1000,
        bn_param: tuple[float, float] = (0.1, 1e-5),
        dropout_rate: float = 0.1,
        in_channels: int = 3,
        mask: Mapping[str, Any] | str | os.PathLike | None = None,
    ) -> None:
        super().__init__(mask)
        self.kernel_size_list = _sorted_choices(
            "kernel_size_list", kernel_size_list, lambda k: isinstance(k, int) and k > 0 and k % 2, "odd positive ints"
        )
        self.expand_ratio_list = _sorted_choices(
            "expand_ratio_list", expand_ratio_list, lambda e: isinstance(e, (int, float)) and e > 0, "positive numbers"
        )
        self.depth_list = _sorted_choices(
            "depth_list", depth_list, lambda d: isinstance(d, int) and d > 0, "positive ints"
        )
        if not width_mult > 0:
            raise ValueError(f"OFAMobileNetV3: width_mult={width_mult!r} must be > 0")
        self.width_mult = width_mult
        momentum, eps = bn_param

        def width(base: int) -> int:
            return make_divisible(base * width_mult)

        stem, first_block = width(STEM_WIDTH), width(FIRST_BLOCK_WIDTH)
        self.first_conv = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem, eps=eps, momentum=momentum),
            nn.Hardswish(),
        )
        self.first_block = MBConvBlock(
            stem, first_block, kernel_size=3, middle=stem, squeeze=None, stride=1, activation="relu",
            expand=False, bn_param=bn_param, transform_kernel=False,
        )  # fmt: skip
        stages, channels = [], first_block
        for index, (base, stride, activation, use_se) in enumerate(
            zip(STAGE_WIDTHS, STAGE_STRIDES, STAGE_ACTIVATIONS, STAGE_SE), start=1
        ):
            choices = (self.kernel_size_list, self.expand_ratio_list, self.depth_list)
            stage = ElasticStage(
                f"stage{index}", channels, width(base), stride, activation, use_se, *choices, bn_param, self.mask
            )
            stages.append(stage)
            channels = width(base)
        self.stages = nn.ModuleList(stages)
        final_expand, feature_mix = width(FINAL_EXPAND_WIDTH), width(FEATURE_MIX_WIDTH)
        self.final_expand_layer = nn.Sequential(
            nn.Conv2d(channels, final_expand, 1, bias=False),
            nn.BatchNorm2d(final_expand, eps=eps, momentum=momentum),
            nn.Hardswish(),
        )
        self.feature_mix_layer = nn.Sequential(nn.Conv2d(final_expand, feature_mix, 1, bias=False), nn.Hardswish())
        self.classifier = nn.Sequential(nn.Dropout(dropout_rate), nn.Linear(feature_mix, num_classes))
        self.check_mask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.first_conv(x))
        for stage in self.stages:
            x = stage(x)
        x = self.final_expand_layer(x).mean((2, 3), keepdim=True)
        return self.classifier(self.feature_mix_layer(x).flatten(1))

    @property
    def elastic_keys(self) -> dict[str, list[str]]:
        """The architecture keys of each elastic dimension: ``{"kernel": [...], "depth": [...], "expand": [...]}``."""
        keys: dict[str, list[str]] = {dimension: [] for dimension in ELASTIC_DIMENSIONS}
        for stage in self.stages:
            keys["depth"].append(stage.depth.key)
            for choices in stage.choices:
                keys["kernel"].append(choices.kernel.key)
                keys["expand"].append(choices.middle.key)
        return keys

    def sort_middle_channels(self, expand_stage: int = 0) -> None:
        """OFA's channel sorting before elastic-expand phase ``expand_stage`` (0, 1, ...): each block's
        middle channels are reordered by importance so that smaller expand ratios keep the most
        important ones; the widths of the ``expand_stage`` ratios already trained keep their
        channels. The network computes the same function afterwards."""
        for stage in self.stages:
            stage.sort_middle_channels(expand_stage)

    def arch_for(
        self,
        kernel_size: int | Sequence[int] | None = None,
        expand_ratio: float | Sequence[float] | None = None,
        depth: int | Sequence[int] | None = None,
    ) -> dict[str, int]:
        """The architecture (key -> index) of OFA's ``set_active_subnet(ks, e, d)`` settings.

        Each argument is one value for every block (stage, for ``depth``), a sequence with one value
        per block in order (stage 1 block 0, stage 1 block 1, ...) or per stage, or ``None`` for
        the largest. A value outside its list is a ``ValueError`` naming the key.
        """
        keys = self.elastic_keys
        arch: dict[str, int] = {}
        for dimension, setting, choices in (
            ("kernel", kernel_size, self.kernel_size_list),
            ("expand", expand_ratio, self.expand_ratio_list),
            ("depth", depth, self.depth_list),
        ):
            names = keys[dimension]
            if setting is None:
                setting = max(choices)
            values = list(setting) if isinstance(setting, Sequence) else [setting] * len(names)
            if len(values) != len(names):
                raise ValueError(f"arch_for: {dimension} has {len(values)} values, expected {len(names)} (one per key)")
            for key, value in zip(names, values):
                if value not in choices:
                    raise ValueError(f"arch_for: {key!r} = {value!r} is not one of {choices}")
                arch[key] = choices.index(value)
        return arch
