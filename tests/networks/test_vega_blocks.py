"""Vega's fine-grained blocks: parameter counts against the references, the seed's YAML descriptions, errors."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from hyperbox.networks import vega
from hyperbox.networks.vega import (
    BasicBlock,
    BasicLayer,
    BottleneckBlock,
    InitialBlock,
    LinearClassificationHead,
    Repeat,
    ResNet,
    ResNetVariant,
    ShortCut,
    SmallInputInitialBlock,
    VariantLayer,
    View,
)

torch.set_num_threads(1)

# The seed's CIFAR ResNet-20 (section 2.3, quant): 3 stages of 3 basic blocks, 16/32/64 channels.
RESNET20_ITEMS = {
    "inchannel": [16, 16, 16, 16, 32, 32, 32, 64, 64],
    "outchannel": [16, 16, 16, 32, 32, 32, 64, 64, 64],
    "stride": [1, 1, 1, 2, 1, 1, 2, 1, 1],
}
# The seed's pruned ResNet-20 (section 2.4, prune): per-block widths and inner widths.
PRUNED_RESNET20_ITEMS = {
    "inchannel": [16, 15, 15, 15, 29, 29, 29, 60, 60],
    "outchannel": [15, 15, 15, 29, 29, 29, 60, 60, 60],
    "inner_plane": [14, 16, 16, 29, 30, 30, 62, 60, 62],
    "stride": [1, 1, 1, 2, 1, 1, 2, 1, 1],
}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def resnet20(**kwargs) -> ResNet:
    return ResNet(depth=20, block=BasicBlock, init_plane=16, out_plane=64, num_reps=9, items=RESNET20_ITEMS, **kwargs)


# Reference counts: torchvision.models.resnet18/34/50/101 (ImageNet, 1000 classes), the "num_params" of their
# weights' metadata: 11,689,512 / 21,797,672 / 25,557,032 / 44,549,160. Vega's ResNet with the ImageNet stem
# (InitialBlock: bias-free 7x7 conv, BN), projection shortcuts only where stride or width changes, and
# Linear(512 * expansion, num_class) is torchvision's network block for block, so the counts are the same.
@pytest.mark.parametrize(
    ("depth", "params"),
    [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032), (101, 44_549_160)],
)
def test_coarse_resnet_counts_match_torchvision(depth: int, params: int) -> None:
    assert count(ResNet(depth=depth, num_class=1000)) == params


# He et al. (2016), Table 6: ResNet-20 on CIFAR-10 has 0.27M parameters (option A: zero-padded identity
# shortcuts). Vega's ShortCut projects instead (1x1 conv + BN, option B) wherever stride or width changes: at the
# two stride-2 blocks, 16->32 (512 + 64) and 32->64 (2,048 + 128), 2,752 more than option A's 269,722:
#   stem 3x3 conv 432 + BN 32; stage 1: 6 convs x 2,304 + 6 BN x 32; stage 2: 4,608 + 5 x 9,216 + 6 BN x 64 + 576;
#   stage 3: 18,432 + 5 x 36,864 + 6 BN x 128 + 2,176; Linear(64, 10) 650  ->  272,474.
# Vega's shipped CIFAR ResNet-20 checkpoint (examples/fine_grained_space/prune/bestmodel.pth in Vega 0.9.3) has
# exactly these parameter shapes, in this order (checked when this test was written: 3x3 stem, two projections).
RESNET20_SMALL_INPUT = 272_474
# With the ImageNet stem (small_input: false) the stem conv is 7x7: 16 x 3 x 49 = 2,352 weights instead of 432.
RESNET20_IMAGENET_STEM = RESNET20_SMALL_INPUT - 432 + 2_352


def test_cifar_resnet20_count() -> None:
    assert count(resnet20()) == RESNET20_SMALL_INPUT == 272_474  # the CIFAR form takes the 3x3 stem by default
    assert count(resnet20(small_input=False)) == RESNET20_IMAGENET_STEM == 274_394
    projections = [m for m in resnet20().modules() if isinstance(m, ShortCut) and hasattr(m, "conv1")]
    assert [tuple(m.conv1.weight.shape) for m in projections] == [(32, 16, 1, 1), (64, 32, 1, 1)]


def test_fine_grained_resnet50_equals_coarse_layer_by_layer() -> None:
    # The seed's section 2.1: InitialBlock + BasicLayer(BottleneckBlock, [3, 4, 6, 3]) + pool + View + Linear.
    fine = nn.Sequential(
        InitialBlock(init_plane=64),
        BasicLayer(in_plane=64, expansion=4, block=functools.partial(BottleneckBlock), layer_reps=[3, 4, 6, 3]),
        nn.AdaptiveAvgPool2d((1, 1)),
        View(),
        nn.Linear(2048, 10),
    )
    coarse = ResNet(depth=50, num_class=1000)
    assert shapes(fine)[:-2] == shapes(coarse)[:-2]
    assert shapes(fine)[-2:] == [(10, 2048), (10,)]
    assert shapes(coarse)[-2:] == [(1000, 2048), (1000,)]
    assert count(fine) == 25_557_032 - 1000 * 2049 + 10 * 2049
    assert fine(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_block_class_and_factory_build_the_same() -> None:
    with_class = BasicLayer(in_plane=64, expansion=1, block=BasicBlock, layer_reps=[2, 2, 2, 2])
    with_factory = BasicLayer(in_plane=64, expansion=1, block=functools.partial(BasicBlock), layer_reps=[2, 2, 2, 2])
    assert shapes(with_class) == shapes(with_factory) == shapes(ResNet(depth=18).layers)
    as_factory = ResNet(
        depth=20, block=functools.partial(BasicBlock), init_plane=16, out_plane=64, num_reps=9, items=RESNET20_ITEMS
    )
    assert shapes(as_factory) == shapes(resnet20())


@pytest.mark.parametrize("stem", [InitialBlock, SmallInputInitialBlock])
def test_in_channels_changes_only_the_stem_conv(stem) -> None:
    rgb, gray = stem(init_plane=16), stem(init_plane=16, in_channels=1)
    assert shapes(gray)[0][1] == 1 and shapes(rgb)[0][1] == 3
    assert shapes(gray)[1:] == shapes(rgb)[1:]
    assert gray(torch.randn(2, 1, 32, 32)).shape[:2] == (2, 16)
    rgb_net, gray_net = resnet20(small_input=True), resnet20(small_input=True, in_channels=1)
    rgb_shapes, gray_shapes = shapes(rgb_net), shapes(gray_net)
    assert gray_shapes[0] == (16, 1, 3, 3) and rgb_shapes[0] == (16, 3, 3, 3)
    assert gray_shapes[1:] == rgb_shapes[1:]


def test_shortcut_rule() -> None:
    assert not hasattr(BasicBlock(16, 16).shortcut, "conv1")
    assert hasattr(BasicBlock(16, 16, stride=2).shortcut, "conv1")
    assert hasattr(BasicBlock(16, 32).shortcut, "conv1")
    assert tuple(BottleneckBlock(64, 64).shortcut.conv1.weight.shape) == (256, 64, 1, 1)
    assert not hasattr(BottleneckBlock(256, 64).shortcut, "conv1")
    assert BasicBlock.expansion == 1 and BottleneckBlock.expansion == 4


def test_identity_shortcut_is_added() -> None:
    block = BasicBlock(8, 8).eval()
    nn.init.zeros_(block.conv.batch2.weight)  # the residual branch now outputs 0
    x = torch.randn(2, 8, 4, 4)
    assert torch.allclose(block(x), torch.relu(x))


def test_forward_passes() -> None:
    x = torch.randn(2, 3, 32, 32)
    assert ResNet(depth=18, num_class=1000)(x).shape == (2, 1000)
    assert resnet20()(x).shape == (2, 10)
    assert resnet20(small_input=True)(x).shape == (2, 10)
    pruned = ResNet(depth=20, block=BasicBlock, init_plane=16, out_plane=60, num_reps=9, items=PRUNED_RESNET20_ITEMS)
    assert pruned(x).shape == (2, 10)
    assert tuple(pruned.layers.repeat.layers_0.conv.conv.weight.shape) == (14, 16, 3, 3)
    # The seed's section 2.2: ResNetVariant on ResNet-18's layout, which is ResNet-18 with the small-input stem.
    variant = ResNetVariant(
        base_depth=18, base_channel=64, doublechannel=[0, 0, 1, 0, 1, 0, 1, 0], downsample=[0, 0, 1, 0, 1, 0, 1, 0]
    )
    assert shapes(variant) == shapes(ResNet(depth=18, small_input=True)) == shapes(ResNetVariant(18, 64))
    assert variant(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_seed_variant_layer_description() -> None:
    # The seed's section 3.2: SmallInputInitialBlock(32) + VariantLayer + LinearClassificationHead(512, 10).
    model = nn.Sequential(
        SmallInputInitialBlock(init_plane=32),
        VariantLayer(
            in_plane=32,
            out_plane=512,
            doublechannel=[0, 1, 1, 0, 1, 0, 0, 1],
            downsample=[1, 1, 0, 1, 0, 0, 0, 1],
            expansion=1,
            block=BasicBlock,
        ),
        LinearClassificationHead(base_channel=512, num_class=10),
    )
    blocks = list(model[1].repeat)
    assert [b.conv.conv.out_channels for b in blocks] == [32, 64, 128, 128, 256, 256, 256, 512]
    assert [b.conv.conv.stride[0] for b in blocks] == [2, 2, 1, 2, 1, 1, 1, 2]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    bottleneck = VariantLayer(16, 64, [0, 1], [0, 1], expansion=4, block=functools.partial(BottleneckBlock))
    assert [b.shortcut.conv1.in_channels for b in bottleneck.repeat] == [16, 64]
    assert bottleneck(torch.randn(2, 16, 8, 8)).shape == (2, 128, 4, 4)


def test_repeat_items() -> None:
    repeat = Repeat(num_reps=3, items={"inchannel": [4, 8, 8], "outchannel": [8, 8, 8], "stride": 1}, ref=BasicBlock)
    assert [name for name, _ in repeat.named_children()] == ["layers_0", "layers_1", "layers_2"]
    assert repeat(torch.randn(2, 4, 6, 6)).shape == (2, 8, 6, 6)
    with pytest.raises(ValueError, match=r"items\['stride'\] has 8 values, num_reps is 9") as error:
        ResNet(
            depth=20,
            block=BasicBlock,
            init_plane=16,
            out_plane=64,
            num_reps=9,
            items={**RESNET20_ITEMS, "stride": RESNET20_ITEMS["stride"][:8]},
        )
    assert "\n" not in str(error.value)
    with pytest.raises(TypeError, match="block class or factory"):
        Repeat(num_reps=1, items={}, ref=BasicBlock(4, 4))


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="doublechannel has 2 entries and downsample 3"):
        VariantLayer(16, 32, [0, 1], [0, 1, 0], expansion=1, block=BasicBlock)
    with pytest.raises(ValueError, match="`block`"):
        ResNet(depth=20)
    with pytest.raises(ValueError, match="base_depth"):
        ResNetVariant(base_depth=20, base_channel=16)
    with pytest.raises(ValueError, match="groups=1 and base_width=64"):
        BasicBlock(16, 16, groups=2)
    with pytest.raises(TypeError, match="expansion"):
        ResNet(depth=20, block=lambda **kwargs: BasicBlock(**kwargs), items=RESNET20_ITEMS, num_reps=9)


def test_lazy_exports() -> None:
    assert set(vega.__all__) == set(vega.EXPORTS)
    assert vega.ResNet is ResNet
    with pytest.raises(AttributeError):
        _ = vega.NotABlock
