"""Vega's Quant and Prune processes on a CIFAR ResNet-20 (the seed's fine-grained space, sections 2.3 and 2.4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hyperbox.nas.estimators import FlopsEstimator, ParamsEstimator
from hyperbox.networks.vega.prune import ChannelSelect, Prune
from hyperbox.networks.vega.quant import (
    ModelBitsEstimator,
    Quant,
    QuantConv,
    dorefa_activation,
    dorefa_weight,
)

torch.set_num_threads(1)

# The seed's lists (section 2.3): 20 entries for ResNet-20's 18 block convolutions and 2 shortcut convolutions.
NBIT_W = [8, 4, 8, 4, 4, 8, 8, 8, 8, 4, 4, 8, 4, 4, 4, 4, 8, 4, 8, 8]
NBIT_A = [8, 4, 4, 8, 8, 4, 8, 8, 8, 8, 4, 8, 8, 4, 8, 4, 8, 4, 8, 8]
WIDTHS = [16, 16, 16, 32, 32, 32, 64, 64, 64]  # the blocks' widths
STAGE = [1, 1, 1, 2, 2, 2, 3, 3, 3]  # the blocks' stages
SIDE = [32, 32, 32, 16, 16, 16, 8, 8, 8]  # the blocks' output side on a 32x32 input


class Block(nn.Module):
    """A plain-torch basic block; ``identity`` chooses how an identity shortcut is written."""

    def __init__(self, cin: int, cout: int, stride: int, identity: str = "sequential") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential() if identity == "sequential" else None  # None: torchvision's style

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Module):
    def __init__(self, identity: str = "sequential") -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for index, width in enumerate(WIDTHS):
            blocks.append(Block(cin, width, 2 if index in (3, 6) else 1, identity))
            cin = width
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(torch.relu(self.bn(self.conv(x))))
        return self.linear(self.pool(x).flatten(1))


def resnet20(seed: int = 0, identity: str = "sequential") -> ResNet20:
    """A ResNet-20 with random BatchNorm statistics and affine parameters, in eval mode."""
    torch.manual_seed(seed)
    net = ResNet20(identity)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def random_masks(seed: int = 1) -> tuple[list[list[int]], list[list[int]]]:
    """Vega's layout for ResNet-20: chn_node_mask rows of 16, 16, 32, 64; chn_mask rows of WIDTHS."""
    generator = torch.Generator().manual_seed(seed)

    def row(length: int) -> list[int]:
        values = (torch.rand(length, generator=generator) < 0.7).int().tolist()
        values[length - 1] = 1  # at least one kept
        return values

    node = [row(n) for n in (16, 16, 32, 64)]
    node[0][3], node[1][3], node[0][5], node[1][5] = 1, 0, 0, 1  # the stem and stage 1 keep different channels
    return [row(n) for n in WIDTHS], node


def expected_counts(chn_mask: list[list[int]], chn_node_mask: list[list[int]]) -> tuple[int, int]:
    """(parameters, MACs on 3x32x32) of ResNet-20 whose layers keep the masks' ones."""
    node, inner = [sum(r) for r in chn_node_mask], [sum(r) for r in chn_mask]
    params, macs = 3 * 9 * node[0] + 2 * node[0], 32 * 32 * node[0] * 3 * 9
    for b in range(9):
        before, after, hw = node[STAGE[b - 1] if b else 0], node[STAGE[b]], SIDE[b] ** 2
        params += before * inner[b] * 9 + 2 * inner[b] + inner[b] * after * 9 + 2 * after
        macs += hw * inner[b] * before * 9 + hw * after * inner[b] * 9
        if b in (3, 6):  # the 1x1 shortcut convolutions and their BatchNorms
            params += before * after + 2 * after
            macs += hw * after * before
    return params + node[3] * 10 + 10, macs + node[3] * 10


def vega_masked(net: ResNet20, chn_mask: list[list[int]], chn_node_mask: list[list[int]]) -> ResNet20:
    """What Vega's PruneResnet does: same shapes, the removed channels' weights and statistics zeroed."""
    node = [torch.tensor(r, dtype=torch.bool) for r in chn_node_mask]
    inner = [torch.tensor(r, dtype=torch.bool) for r in chn_mask]

    def conv(layer: nn.Conv2d, out: torch.Tensor, inputs: torch.Tensor | None = None) -> None:
        layer.weight[~out] = 0
        if inputs is not None:
            layer.weight[:, ~inputs] = 0

    def norm(layer: nn.BatchNorm2d, keep: torch.Tensor) -> None:
        for tensor in (layer.weight, layer.bias, layer.running_mean, layer.running_var):
            tensor[~keep] = 0

    with torch.no_grad():
        conv(net.conv, node[0])
        norm(net.bn, node[0])
        for b, block in enumerate(net.layers):
            before, after = node[STAGE[b - 1] if b else 0], node[STAGE[b]]
            conv(block.conv1, inner[b], before)
            norm(block.bn1, inner[b])
            conv(block.conv2, after, inner[b])
            norm(block.bn2, after)
            if block.shortcut:
                conv(block.shortcut[0], after, before)
                norm(block.shortcut[1], after)
        net.linear.weight[:, ~node[3]] = 0
    return net


# -- Quant -------------------------------------------------------------------------------------------------


def test_quant_replaces_all_convolutions_but_the_stem_in_module_order():
    net = Quant(NBIT_W, NBIT_A).apply(resnet20())
    quantised = [(name, m) for name, m in net.named_modules() if isinstance(m, QuantConv)]
    assert len(quantised) == 20 and type(net.conv) is nn.Conv2d and type(net.linear) is nn.Linear
    assert [(m.nbit_w, m.nbit_a) for _, m in quantised] == list(zip(NBIT_W, NBIT_A))
    assert [name for name, _ in quantised][6:9] == ["layers.3.conv1", "layers.3.conv2", "layers.3.shortcut.0"]
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_quant_keeps_the_weights_and_passes_gradients_straight_through():
    plain = resnet20()
    net = Quant(4, 4).apply(copy.deepcopy(plain))
    assert torch.equal(net.layers[0].conv1.weight, plain.layers[0].conv1.weight)
    net.train()
    net(torch.randn(4, 3, 32, 32)).square().mean().backward()
    for m in net.modules():
        if isinstance(m, QuantConv):
            assert torch.isfinite(m.weight.grad).all() and m.weight.grad.abs().sum() > 0
    x = torch.linspace(-1, 2, 31, requires_grad=True)
    dorefa_activation(x, 2).sum().backward()
    assert torch.equal(x.grad, ((x >= 0) & (x <= 1)).float())  # the clamp's gradient, the rounding's passed


def test_quant_lists_must_cover_the_quantised_layers():
    with pytest.raises(ValueError, match=r"^nbit_w_list: 19 bit widths for the 20 quantised convolutions"):
        Quant(NBIT_W[:19], NBIT_A).apply(resnet20())
    with pytest.warns(UserWarning, match=r"^nbit_a_list: 21 bit widths for the 20 .*: the last 1 unused"):
        longer = Quant(NBIT_W, [*NBIT_A, 2]).apply(resnet20())  # as Vega: read from the start
    assert [m.nbit_a for m in longer.modules() if isinstance(m, QuantConv)] == NBIT_A
    with pytest.raises(ValueError, match=r"nbit_w_list\[2\]: expected a bit width from 0 to 32, got 64"):
        Quant([8, 8, 64], 8)


def test_quant_at_32_bits_is_the_plain_network():
    conv = nn.Conv2d(5, 7, 3, 2, 1, bias=True)
    x = torch.randn(2, 5, 9, 9)  # negative inputs too
    assert torch.equal(QuantConv.from_conv(conv, 32, 32)(x), conv(x))
    plain = resnet20()
    quantised = Quant(32, 32).apply(copy.deepcopy(plain))
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(quantised(x), plain(x))


def test_quantisation_error_shrinks_as_bits_grow():
    torch.manual_seed(0)
    w, x = torch.randn(64, 16, 3, 3) * 0.2, torch.randn(4096) * 0.6 + 0.4
    target_w = torch.tanh(w) / torch.tanh(w).abs().max()  # DoReFa's real-valued weights
    errors_w = [(dorefa_weight(w, k) - target_w).abs().max().item() for k in (2, 3, 4, 8, 16)]
    errors_a = [(dorefa_activation(x, k) - x.clamp(0, 1)).abs().max().item() for k in (2, 3, 4, 8, 16)]
    for errors in (errors_w, errors_a):
        assert all(a > b for a, b in zip(errors, errors[1:])) and errors[-1] < 1e-4
    assert dorefa_weight(w, 2).unique().numel() == 4 and dorefa_activation(x, 2).unique().numel() == 4
    assert dorefa_weight(w, 1).unique().numel() == 2  # sign(w) * mean|w|
    conv = nn.Conv2d(16, 8, 3, padding=1, bias=False)  # a whole layer: towards conv(x, DoReFa's real weights)
    with torch.no_grad():
        conv.weight.copy_(w[:8])
    inputs = torch.rand(2, 16, 8, 8)
    reference = nn.functional.conv2d(inputs, torch.tanh(w[:8]) / torch.tanh(w[:8]).abs().max(), padding=1)
    layer_errors = [(QuantConv.from_conv(conv, k, k)(inputs) - reference).abs().max().item() for k in (2, 4, 8, 16)]
    assert all(a > b for a, b in zip(layer_errors, layer_errors[1:]))


def test_zero_bits_is_vega_identity_mapping():
    conv = nn.Conv2d(4, 8, 3, 2, 1)
    x = torch.randn(1, 4, 6, 6)
    y = QuantConv.from_conv(conv, 0, 8)(x)
    assert y.shape == (1, 8, 3, 3)
    assert torch.equal(y[:, 2:6], x[:, :, ::2, ::2]) and not y[:, :2].any() and not y[:, 6:].any()


def test_model_bits_counts_quantised_weights_at_their_width():
    plain = resnet20()
    total = sum(p.numel() for p in plain.parameters())
    assert ModelBitsEstimator()(plain) == {"model_bits": 32 * total}
    net = Quant(NBIT_W, NBIT_A).apply(copy.deepcopy(plain))
    weights = [m.weight.numel() for m in net.modules() if isinstance(m, QuantConv)]
    expected = sum(n * bits for n, bits in zip(weights, NBIT_W)) + 32 * (total - sum(weights))
    assert ModelBitsEstimator(name="bits")(net, None, None) == {"bits": expected}


# -- Prune -------------------------------------------------------------------------------------------------


def test_mask_lengths_are_vega_layout():
    assert Prune.mask_lengths(resnet20()) == {"chn_node_mask": [16, 16, 32, 64], "chn_mask": WIDTHS}


def test_prune_counts_drop_by_what_the_masks_remove():
    full_params, full_macs = expected_counts([[1] * n for n in WIDTHS], [[1] * n for n in (16, 16, 32, 64)])
    assert (full_params, full_macs) == (272474, 40813184)  # ResNet-20 with 1x1 shortcuts: 0.27M parameters, 40.8M MACs
    net = resnet20()
    assert ParamsEstimator()(net)["params"] == full_params
    assert FlopsEstimator(input_shape=[3, 32, 32])(net)["flops"] == full_macs
    chn_mask, chn_node_mask = random_masks()
    pruned = Prune(chn_mask, chn_node_mask).apply(net)
    params, macs = expected_counts(chn_mask, chn_node_mask)
    assert params < full_params and macs < full_macs
    assert ParamsEstimator()(pruned)["params"] == params
    assert FlopsEstimator(input_shape=[3, 32, 32])(pruned)["flops"] == macs
    assert [b.conv1.out_channels for b in pruned.layers] == [sum(r) for r in chn_mask]
    assert isinstance(pruned.layers[0].shortcut, ChannelSelect)  # the stem and stage 1 keep different channels
    assert type(pruned.layers[1].shortcut) is nn.Sequential


@pytest.mark.parametrize("identity", ["sequential", "none"])
def test_pruned_network_computes_vega_masked_network(identity):
    chn_mask, chn_node_mask = random_masks(seed=2)
    x = torch.randn(2, 3, 32, 32)
    masked = vega_masked(resnet20(identity=identity), chn_mask, chn_node_mask)
    pruned = Prune(chn_mask, chn_node_mask).apply(resnet20(identity=identity))
    torch.testing.assert_close(pruned(x), masked(x), atol=1e-5, rtol=1e-4)
    pruned.train()
    pruned(x).sum().backward()  # and it trains
    assert pruned.layers[0].conv1.weight.grad.shape == pruned.layers[0].conv1.weight.shape


def test_prune_starts_from_init_model_file(tmp_path):
    trained = resnet20(seed=5)
    path = tmp_path / "bestmodel.pth"
    torch.save(trained.state_dict(), path)
    chn_mask, chn_node_mask = random_masks(seed=3)
    wrapped = nn.Sequential(resnet20(seed=9))  # as a composed network hands it over: keys gain "0."
    pruned = Prune(chn_mask, chn_node_mask, init_model_file=str(path)).apply(wrapped)
    expected = Prune(chn_mask, chn_node_mask).apply(copy.deepcopy(trained))
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(pruned(x), expected(x))
    kept_out = torch.tensor([i for i, v in enumerate(chn_mask[4]) if v])
    kept_in = torch.tensor([i for i, v in enumerate(chn_node_mask[2]) if v])
    assert torch.equal(pruned[0].layers[4].conv1.weight, trained.layers[4].conv1.weight[kept_out][:, kept_in])
    torch.save({f"module.{k}": v for k, v in trained.state_dict().items()}, path)  # as DataParallel saves it
    unwrapped = Prune(chn_mask, chn_node_mask, init_model_file=path).apply(resnet20(seed=9))
    torch.testing.assert_close(unwrapped(x), expected(x))
    torch.save({"other.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"^init_model_file: .*bestmodel.pth does not fit the network: "):
        Prune(chn_mask, chn_node_mask, init_model_file=path).apply(resnet20())
    with pytest.raises(ValueError, match=r"^init_model_file: .*missing.pth: No such file or directory$"):
        Prune(chn_mask, chn_node_mask, init_model_file=tmp_path / "missing.pth").apply(resnet20())
    torch.save({"weight": nn.Linear(1, 1)}, path)  # a module, not a state_dict: loading it would run code
    with pytest.raises(ValueError, match=r"^init_model_file: .*bestmodel.pth: not a weights-only checkpoint"):
        Prune(chn_mask, chn_node_mask, init_model_file=path).apply(resnet20())


def test_prune_mask_shapes_are_checked():
    chn_mask, chn_node_mask = random_masks()
    bad = copy.deepcopy(chn_mask)
    bad[3] = bad[3][:12]
    with pytest.raises(ValueError, match=r"^chn_mask\[3\]: expected 32 entries \(the output channels of layers.3"):
        Prune(bad, chn_node_mask).apply(resnet20())
    with pytest.raises(ValueError, match=r"^chn_mask: expected 9 rows"):
        Prune(chn_mask[:8], chn_node_mask).apply(resnet20())
    bad = copy.deepcopy(chn_node_mask)
    bad[0] = [1] * 12
    with pytest.raises(ValueError, match=r"^chn_node_mask\[0\]: expected 16 entries"):
        Prune(chn_mask, bad).apply(resnet20())
    with pytest.raises(ValueError, match=r"^chn_mask\[0\]\[2\]: expected 0 or 1, got 2"):
        Prune([[1, 1, 2]], chn_node_mask)
    # The seed's example matrices (5 x 12 and 12 x 12) are placeholders that fit no ResNet-20 layer.
    seed_node = [[0] * 11 + [1]] * 5
    with pytest.raises(ValueError, match=r"^chn_node_mask: expected 4 rows of lengths \[16, 16, 32, 64\], got 5"):
        Prune([[1] * 12] * 12, seed_node).apply(resnet20())


def test_an_identity_that_cannot_be_replaced_is_refused_before_any_change():
    chn_mask, chn_node_mask = random_masks()
    net = resnet20()
    net.layers[0].shortcut = nn.ReLU()  # the same values, but no identity module Prune recognises
    before = ParamsEstimator()(net)
    with pytest.raises(ValueError, match=r"^Prune: block 'layers.0' adds its input unchanged .* no identity module"):
        Prune(chn_mask, chn_node_mask).apply(net)
    assert ParamsEstimator()(net) == before


def test_a_row_of_zeros_keeps_its_first_channel():
    chn_mask, chn_node_mask = random_masks()
    chn_mask[2] = [0] * 16
    pruned = Prune(chn_mask, chn_node_mask).apply(resnet20())
    assert pruned.layers[2].conv1.out_channels == 1
    assert pruned(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_prune_refuses_what_is_not_a_resnet_of_basic_blocks():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1))
    with pytest.raises(ValueError, match=r"is in no residual block"):
        Prune([], [[1] * 8]).apply(net)


def test_quant_after_prune():
    chn_mask, chn_node_mask = random_masks()
    net = Quant(NBIT_W, NBIT_A).apply(Prune(chn_mask, chn_node_mask).apply(resnet20()))
    assert sum(isinstance(m, QuantConv) for m in net.modules()) == 20
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)
