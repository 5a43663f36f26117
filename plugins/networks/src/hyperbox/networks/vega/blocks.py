"""Vega's fine-grained ResNet blocks in PyTorch (huawei-noah/vega).

The class names, constructor arguments, defaults and the rules that derive channels and strides are those of
Vega 0.9.3's ``vega/search_space/fine_grained_space`` (commit 1d88e744, the release whose YAML the seed shows:
``blocks/blocks.py``, ``blocks/head.py``, ``cells/basic.py``, ``networks/resnet.py``,
``conditions/conditions.py``). The wiring inside a block is that of Vega's current ``vega/modules/blocks/blocks.py``
(commit 12e37a19), which fixed two 0.9.3 slips that change no parameter: an identity shortcut is added (0.9.3
dropped the empty ``ShortCut`` from the sum) and the bottleneck's ReLUs follow its first two BNs (0.9.3 ran all
three conv+BN pairs and then one ReLU). With these, Vega's ResNet-18/34/50/101 are torchvision's, parameter for
parameter.

Every block takes what it needs as constructor arguments (``init_plane``, ``in_plane``, ``inchannel``, ...): as in
Vega's YAML, the user writes the planes and no block looks into its neighbours. An argument ``block`` / ``ref`` is
a block factory, ``ref(**kwargs) -> nn.Module``: a block class, or e.g. ``functools.partial(BottleneckBlock)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "View",
    "InitialBlock",
    "SmallInputInitialBlock",
    "ShortCut",
    "BasicConv",
    "BottleConv",
    "BasicBlock",
    "BottleneckBlock",
    "Repeat",
    "BasicLayer",
    "VariantLayer",
    "ResNet",
    "ResNetVariant",
    "LinearClassificationHead",
]

BlockFactory = Callable[..., nn.Module]


def _conv3x3(inchannel: int, outchannel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inchannel, outchannel, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def _conv1x1(inchannel: int, outchannel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inchannel, outchannel, kernel_size=1, stride=stride, bias=False)


def _expansion(block: BlockFactory) -> int:
    """A block factory's ``expansion``: the attribute of a block class, also through ``functools.partial``."""
    factory: Any = block
    while True:
        expansion = getattr(factory, "expansion", None)
        if isinstance(expansion, int) and not isinstance(expansion, bool):
            return expansion
        if not isinstance(factory, functools.partial):
            raise TypeError(
                f"cannot tell the expansion of block {block!r}: give a block class (with an `expansion` attribute) "
                "or a functools.partial of one"
            )
        factory = factory.func


def _check_factory(name: str, block: Any) -> None:
    if isinstance(block, nn.Module) or not callable(block):
        raise TypeError(f"{name} must be a block class or factory (ref(**kwargs) -> nn.Module), got {block!r}")


class View(nn.Module):
    """Flattens ``(N, ...)`` to ``(N, -1)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.size(0), -1)


class InitialBlock(nn.Module):
    """ImageNet stem: 7x7 conv (stride 2) + BN + ReLU + 3x3 max-pool (stride 2); ``init_plane`` output channels."""

    def __init__(self, init_plane: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, init_plane, kernel_size=7, stride=2, padding=3, bias=False)
        self.batch = nn.BatchNorm2d(init_plane)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool2d = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool2d(self.relu(self.batch(self.conv(x))))


class SmallInputInitialBlock(nn.Module):
    """Small-input (CIFAR) stem: 3x3 conv (stride 1) + BN + ReLU; ``init_plane`` output channels."""

    def __init__(self, init_plane: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = _conv3x3(in_channels, init_plane)
        self.batch = nn.BatchNorm2d(init_plane)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.batch(self.conv(x)))


class ShortCut(nn.Module):
    """A residual block's shortcut, by Vega's rule: a 1x1 conv (``stride``) + BN to ``outchannel * expansion``
    channels when ``stride != 1 or inchannel != outchannel * expansion`` (a projection, option B of He et al.),
    the identity otherwise."""

    def __init__(self, inchannel: int, outchannel: int, expansion: int, stride: int = 1) -> None:
        super().__init__()
        if stride != 1 or inchannel != outchannel * expansion:
            self.conv1 = _conv1x1(inchannel, outchannel * expansion, stride)
            self.batch = nn.BatchNorm2d(outchannel * expansion)
        else:
            self.identity = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "identity"):
            return self.identity(x)
        return self.batch(self.conv1(x))


class BasicConv(nn.Module):
    """The basic block's residual branch: 3x3 conv (``stride``) + BN + ReLU + 3x3 conv + BN.

    ``inner_plane`` (Vega's pruned ResNet-20) is the width between the two convs; by default ``outchannel``.
    Like torchvision's and Vega's basic block it supports only ``groups=1`` and ``base_width=64``.
    """

    def __init__(
        self,
        inchannel: int,
        outchannel: int,
        groups: int = 1,
        base_width: int = 64,
        stride: int = 1,
        inner_plane: int | None = None,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock only supports groups=1 and base_width=64, got {groups} and {base_width}")
        inner = outchannel if inner_plane is None else inner_plane
        self.conv = _conv3x3(inchannel, inner, stride)
        self.batch = nn.BatchNorm2d(inner)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(inner, outchannel)
        self.batch2 = nn.BatchNorm2d(outchannel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.batch2(self.conv2(self.relu(self.batch(self.conv(x)))))


class BottleConv(nn.Module):
    """The bottleneck's residual branch: 1x1 conv + BN + ReLU, 3x3 conv (``stride``, ``groups``) + BN + ReLU,
    1x1 conv + BN to ``outchannel * expansion`` channels. The inner width is
    ``int(outchannel * base_width / 64) * groups`` (ResNeXt's rule)."""

    def __init__(
        self, inchannel: int, outchannel: int, expansion: int, groups: int = 1, base_width: int = 64, stride: int = 1
    ) -> None:
        super().__init__()
        width = int(outchannel * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inchannel, width)
        self.batch1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width, stride, groups)
        self.batch2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        # Vega widens ``width * expansion`` here, which differs from the shortcut's ``outchannel * expansion``
        # (a shape error) whenever groups/base_width make width != outchannel; torchvision's rule is used.
        self.conv3 = _conv1x1(width, outchannel * expansion)
        self.batch3 = nn.BatchNorm2d(outchannel * expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.batch1(self.conv1(x)))
        x = self.relu2(self.batch2(self.conv2(x)))
        return self.batch3(self.conv3(x))


class BasicBlock(nn.Module):
    """ResNet's basic block (``expansion = 1``): ``relu(BasicConv(x) + ShortCut(x))``, output ``outchannel``."""

    expansion = 1

    def __init__(
        self,
        inchannel: int,
        outchannel: int,
        groups: int = 1,
        base_width: int = 64,
        stride: int = 1,
        inner_plane: int | None = None,
    ) -> None:
        super().__init__()
        self.conv = BasicConv(inchannel, outchannel, groups, base_width, stride, inner_plane)
        self.shortcut = ShortCut(inchannel, outchannel, self.expansion, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + self.shortcut(x))


class BottleneckBlock(nn.Module):
    """ResNet's bottleneck (``expansion = 4``): ``relu(BottleConv(x) + ShortCut(x))``, output
    ``outchannel * 4``; the stride is on the 3x3 conv (ResNet v1.5, as torchvision)."""

    expansion = 4

    def __init__(self, inchannel: int, outchannel: int, groups: int = 1, base_width: int = 64, stride: int = 1) -> None:
        super().__init__()
        self.conv = BottleConv(inchannel, outchannel, self.expansion, groups, base_width, stride)
        self.shortcut = ShortCut(inchannel, outchannel, self.expansion, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + self.shortcut(x))


class Repeat(nn.Sequential):
    """``num_reps`` blocks in sequence, block ``i`` built as ``ref(**{name: items[name][i] for name in items})``.

    A list (or tuple) in ``items`` gives one value per block and must have ``num_reps`` of them; any other value
    is passed to every block. Blocks are named ``layers_0``, ``layers_1``, ... (as in Vega).
    """

    def __init__(self, num_reps: int, items: Mapping[str, Any], ref: BlockFactory) -> None:
        if isinstance(num_reps, bool) or not isinstance(num_reps, int) or num_reps < 0:
            raise ValueError(f"Repeat: num_reps must be a non-negative int, got {num_reps!r}")
        if not isinstance(items, Mapping):
            raise TypeError(f"Repeat: items must be a mapping of argument name -> values, got {items!r}")
        _check_factory("Repeat: ref", ref)
        for name, values in items.items():
            if isinstance(values, (list, tuple)) and len(values) != num_reps:
                raise ValueError(f"Repeat: items[{name!r}] has {len(values)} values, num_reps is {num_reps}")
        super().__init__()
        for index in range(num_reps):
            kwargs = {
                name: values[index] if isinstance(values, (list, tuple)) else values for name, values in items.items()
            }
            block = ref(**kwargs)
            if not isinstance(block, nn.Module):
                raise TypeError(f"Repeat: ref(**{kwargs}) returned {type(block).__name__}, not an nn.Module")
            self.add_module(f"layers_{index}", block)


def _flags(name: str, values: Sequence[Any]) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of 0/1, got {values!r}")
    return [int(value) for value in values]


class BasicLayer(nn.Module):
    """ResNet's four stages as one :class:`Repeat` (Vega's ``BasicLayer``).

    Without ``items``: ``layer_reps[i]`` blocks in stage ``i``, of width ``64 * 2**i`` (Vega fixes the widths;
    ``in_plane`` is the first block's input), stride 2 on the first block of every stage but the first; the
    input of each next block is ``width * expansion``. With ``items``: ``Repeat(num_reps, items, block)`` where
    ``num_reps`` is ``layer_reps`` (an int) or ``len(layer_reps)``, and ``groups``/``base_width`` are not added.
    """

    def __init__(
        self,
        in_plane: int,
        expansion: int,
        block: BlockFactory,
        layer_reps: int | Sequence[int],
        items: Mapping[str, Any] | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        if items is not None:
            num_reps = layer_reps if isinstance(layer_reps, int) else len(layer_reps)
            self.repeat = Repeat(num_reps=num_reps, items=items, ref=block)
            return
        if isinstance(layer_reps, int):
            raise ValueError("BasicLayer: layer_reps must be a list of blocks per stage when items is not given")
        inchannel: list[int] = []
        outchannel: list[int] = []
        stride: list[int] = []
        inplane = in_plane
        for stage, reps in enumerate(layer_reps):
            outplane = 64 * 2**stage
            for index in range(reps):
                inchannel.append(inplane)
                outchannel.append(outplane)
                stride.append(2 if stage > 0 and index == 0 else 1)
                inplane = outplane * expansion
        num_reps = len(inchannel)
        built = {
            "inchannel": inchannel,
            "outchannel": outchannel,
            "stride": stride,
            "groups": [groups] * num_reps,
            "base_width": [base_width] * num_reps,
        }
        self.repeat = Repeat(num_reps=num_reps, items=built, ref=block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.repeat(x)


class VariantLayer(nn.Module):
    """A chain of ``len(doublechannel)`` blocks placed by two 0/1 lists (Vega's ``VariantLayer``, BackboneNAS).

    Block ``i`` doubles the width when ``doublechannel[i]`` and has stride 2 when ``downsample[i]``; the width
    starts at ``in_plane`` and each next input is ``width * expansion``. As in Vega's code, ``out_plane`` (the
    layer's output width, written for the reader and the next block) is not used to build: the last block's
    output is ``in_plane * 2**sum(doublechannel) * expansion``.
    """

    def __init__(
        self,
        in_plane: int,
        out_plane: int,
        doublechannel: Sequence[int],
        downsample: Sequence[int],
        expansion: int,
        block: BlockFactory,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        double = _flags("VariantLayer: doublechannel", doublechannel)
        down = _flags("VariantLayer: downsample", downsample)
        if len(double) != len(down):
            raise ValueError(
                f"VariantLayer: doublechannel has {len(double)} entries and downsample {len(down)}; they must match"
            )
        inchannel: list[int] = []
        outchannel: list[int] = []
        width = in_plane
        for flag in double:
            inchannel.append(in_plane)
            width = width * 2 if flag else width
            outchannel.append(width)
            in_plane = width * expansion
        num_reps = len(double)
        items = {
            "inchannel": inchannel,
            "outchannel": outchannel,
            "stride": [2 if flag else 1 for flag in down],
            "groups": [groups] * num_reps,
            "base_width": [base_width] * num_reps,
        }
        self.repeat = Repeat(num_reps=num_reps, items=items, ref=block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.repeat(x)


# depth -> (block, blocks per stage), Vega 0.9.3's ResNet._block_setting (152 from Vega's later ResNetGeneral).
_RESNET_DEPTHS: dict[int, tuple[type[nn.Module], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (BottleneckBlock, [3, 4, 6, 3]),
    101: (BottleneckBlock, [3, 4, 23, 3]),
    152: (BottleneckBlock, [3, 8, 36, 3]),
}


class ResNet(nn.Module):
    """Vega's coarse ResNet: stem, :class:`BasicLayer`, global average pool, :class:`View`, ``Linear``.

    ``depth`` 18/34/50/101/152 picks the block and the stages (``block`` and ``num_reps`` are then ignored, as in
    Vega). Any other depth is the free form, e.g. the CIFAR ResNet-20 ``depth=20, block=BasicBlock,
    init_plane=16, out_plane=64, num_reps=9, items={inchannel: [...], outchannel: [...], stride: [...]}`` (items
    may also give ``inner_plane``). The classifier reads ``out_plane * block.expansion`` features.

    ``small_input`` chooses the stem: the CIFAR :class:`SmallInputInitialBlock` (3x3) or the ImageNet
    :class:`InitialBlock` (7x7 and max-pool). By default the ImageNet depths (18, 34, 50, 101, 152) take the
    ImageNet stem, as Vega 0.9.3's ``ResNet`` (the one with this signature), so that they are the familiar
    networks; the free form, a CIFAR network such as ResNet-20, takes the 3x3 stem, as Vega's later ``ResNet``
    (``small_input=True`` by default) and as the CIFAR ResNet-20 checkpoint Vega ships for its pruning example
    (a 3x3 stem). ``in_channels`` is the stem's input channels.
    """

    def __init__(
        self,
        depth: int = 18,
        block: BlockFactory | None = None,
        items: Mapping[str, Any] | None = None,
        num_class: int = 10,
        num_reps: int | Sequence[int] = 4,
        init_plane: int = 64,
        out_plane: int = 512,
        small_input: bool | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if small_input is None:
            small_input = depth not in _RESNET_DEPTHS
        if depth in _RESNET_DEPTHS:
            block, num_reps = _RESNET_DEPTHS[depth]
        elif block is None:
            raise ValueError(
                f"ResNet: depth {depth} is not one of {sorted(_RESNET_DEPTHS)}, so `block` (and `items`) are needed"
            )
        else:
            _check_factory("ResNet: block", block)
            if items is None and isinstance(num_reps, int):
                raise ValueError(f"ResNet(depth={depth}) needs `items` or a list `num_reps` of blocks per stage")
        expansion = _expansion(block)
        stem = SmallInputInitialBlock if small_input else InitialBlock
        self.init_block = stem(init_plane, in_channels)
        self.layers = BasicLayer(init_plane, expansion, block, num_reps, items)
        self.AdaptiveAvgPool2d = nn.AdaptiveAvgPool2d((1, 1))
        self.view = View()
        self.Linear = nn.Linear(out_plane * expansion, num_class)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Linear(self.view(self.AdaptiveAvgPool2d(self.layers(self.init_block(x)))))


# base_depth -> (block, blocks per stage): Vega 0.9.3's ResNetVariant._block_setting; the stages only give the
# default doublechannel/downsample (Vega's later ResNetGeneral._generate_default_struct).
_VARIANT_DEPTHS: dict[int, tuple[type[nn.Module], list[int]]] = {
    depth: setting for depth, setting in _RESNET_DEPTHS.items() if depth in (18, 34, 50, 101)
}


class ResNetVariant(nn.Module):
    """Vega's ResNetVariant (BackboneNAS): stem, :class:`VariantLayer`, global average pool, :class:`View`,
    ``Linear``.

    ``base_depth`` (18/34/50/101) picks the block only; the number of blocks is ``len(doublechannel)``. Without
    ``doublechannel``/``downsample``, both are the standard ResNet layout of ``base_depth`` (1 on the first block
    of every stage but the first; Vega's later ``ResNetGeneral`` default). The classifier reads
    ``base_channel * 2**sum(doublechannel) * expansion`` features (Vega writes ``512 * expansion``, the same
    number whenever Vega's network runs).
    """

    def __init__(
        self,
        base_depth: int,
        base_channel: int,
        doublechannel: Sequence[int] | None = None,
        downsample: Sequence[int] | None = None,
        small_input: bool = True,
        num_class: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if base_depth not in _VARIANT_DEPTHS:
            raise ValueError(f"ResNetVariant: base_depth must be one of {sorted(_VARIANT_DEPTHS)}, got {base_depth}")
        block, stages = _VARIANT_DEPTHS[base_depth]
        default = [int(stage > 0 and index == 0) for stage, reps in enumerate(stages) for index in range(reps)]
        doublechannel = default if doublechannel is None else _flags("ResNetVariant: doublechannel", doublechannel)
        downsample = default if downsample is None else _flags("ResNetVariant: downsample", downsample)
        expansion = _expansion(block)
        out_channel = base_channel * 2 ** sum(doublechannel) * expansion
        stem = SmallInputInitialBlock if small_input else InitialBlock
        self.init_block = stem(base_channel, in_channels)
        self.layers = VariantLayer(base_channel, out_channel, doublechannel, downsample, expansion, block)
        self.adaptpool = nn.AdaptiveAvgPool2d((1, 1))
        self.view = View()
        self.Linear = nn.Linear(out_channel, num_class)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Linear(self.view(self.adaptpool(self.layers(self.init_block(x)))))


class LinearClassificationHead(nn.Module):
    """Global average pool, :class:`View`, ``Linear(base_channel, num_class)``."""

    def __init__(self, base_channel: int, num_class: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.view = View()
        self.Linear = nn.Linear(base_channel, num_class)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Linear(self.view(self.avgpool(x)))
