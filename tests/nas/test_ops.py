"""Searchable ops: seed shapes, slicing at several decisions, export equality, gradients, BN stats, errors."""

import pytest
import torch
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.nas.ops import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Conv1d,
    Conv2d,
    Conv3d,
    DepthwiseConv2d,
    Embedding,
    LayerNorm,
    Linear,
    MultiheadAttention,
    PlainMultiheadAttention,
)
from hyperbox.nas.spaces import ValueSpace


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def choose(space, value):
    space.mask = [int(c == value) for c in space.candidates]


def assert_export_matches(op, *inputs, expected_type=None):
    op.eval()
    plain = op.export_module()
    assert not any(hasattr(m, "export_module") for m in plain.modules())
    if expected_type is not None:
        assert type(plain) is expected_type
    with torch.no_grad():
        ours, theirs = op(*inputs), plain(*inputs)
    if isinstance(ours, tuple):
        ours, theirs = ours[0], theirs[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    return plain


# -- the seed's examples ------------------------------------------------------------------------


def test_seed_conv_with_masks_allocates_the_chosen_sizes():
    kernel = ValueSpace([3, 5, 7], key="kernelSize", mask=[0, 1, 0])
    out = ValueSpace([16, 32, 64], key="channelOut", mask=[0, 1, 0])
    conv = Conv2d(3, out, kernel, stride=1, padding=2, bias=False)
    assert [x.shape for x in conv.parameters()] == [torch.Size([32, 3, 5, 5])]
    assert conv(torch.randn(2, 3, 9, 9)).shape == (2, 32, 9, 9)


def test_seed_linear_undecided_allocates_the_largest():
    out = ValueSpace([10, 100], key="channelOut1")
    bias = ValueSpace([0, 1], key="bias")
    linear = Linear(10, out, bias=bias)
    assert [x.shape for x in linear.parameters()] == [torch.Size([100, 10]), torch.Size([100])]
    assert set(SearchSpace.of(linear)) == {"channelOut1", "bias"}


# -- convolutions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "dilation", "bias"),
    [(8, 16, 3, 1, 1, 1), (4, 8, 5, 2, 1, 0), (8, 8, 7, 1, 2, 1), (4, 16, 3, 2, 2, 0)],
)
def test_conv2d_every_argument_searchable(cin, cout, k, stride, dilation, bias):
    spaces = dict(
        cin=ValueSpace([4, 8], key="cin"),
        cout=ValueSpace([8, 16], key="cout"),
        k=ValueSpace([3, 5, 7], key="k"),
        stride=ValueSpace([1, 2], key="stride"),
        dilation=ValueSpace([1, 2], key="dilation"),
        bias=ValueSpace([0, 1], key="use_bias"),
    )
    conv = Conv2d(
        spaces["cin"], spaces["cout"], spaces["k"], spaces["stride"], dilation=spaces["dilation"], bias=spaces["bias"]
    )
    assert conv.weight.shape == (16, 8, 7, 7) and conv.bias.shape == (16,)
    for name, value in dict(cin=cin, cout=cout, k=k, stride=stride, dilation=dilation, bias=bias).items():
        choose(spaces[name], value)
    x = torch.randn(2, cin, 12, 12)
    y = conv.train()(x)
    # padding defaults to k // 2 * dilation for a searchable kernel: the size depends only on the stride
    assert y.shape == (2, cout, 12 // stride, 12 // stride)

    y.square().sum().backward()
    start = (7 - k) // 2
    grad = conv.weight.grad
    assert grad[:cout, :cin, start : start + k, start : start + k].abs().sum() > 0
    untouched = grad.clone()
    untouched[:cout, :cin, start : start + k, start : start + k] = 0
    assert untouched.abs().sum() == 0
    assert (conv.bias.grad is not None and conv.bias.grad[:cout].abs().sum() > 0) == bool(bias)

    plain = assert_export_matches(conv, x, expected_type=nn.Conv2d)
    assert plain.weight.shape == (cout, cin, k, k) and (plain.bias is not None) == bool(bias)
    assert plain.stride == (stride, stride) and plain.dilation == (dilation, dilation)


def test_conv_active_weight_is_a_view_of_the_shared_weight():
    out = ValueSpace([8, 16], key="out")
    kernel = ValueSpace([3, 5], key="k")
    conv = Conv2d(4, out, kernel)
    choose(out, 8)
    choose(kernel, 3)
    active = conv.active_weight()
    assert active.shape == (8, 4, 3, 3)
    assert active.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr()


@pytest.mark.parametrize(("op", "shape"), [(Conv1d, (2, 4, 10)), (Conv3d, (2, 4, 6, 6, 6))])
def test_conv1d_and_conv3d(op, shape):
    out = ValueSpace([4, 8], key="out")
    kernel = ValueSpace([1, 3], key="k")
    conv = op(4, out, kernel)
    for width, size in [(4, 1), (8, 3), (4, 3)]:
        choose(out, width)
        choose(kernel, size)
        y = conv(torch.randn(*shape))
        assert y.shape == (shape[0], width, *shape[2:])
        plain = assert_export_matches(conv, torch.randn(*shape), expected_type=op._plain)
        assert plain.kernel_size == (size,) * (len(shape) - 2)
        conv.train()


def test_explicit_and_same_padding():
    kernel = ValueSpace([3, 5], key="k")
    fixed = Conv2d(2, 2, kernel, padding=1)
    choose(kernel, 5)
    assert fixed(torch.randn(1, 2, 8, 8)).shape == (1, 2, 6, 6)  # an int padding is used as given
    same = Conv2d(2, 2, 3, dilation=2, padding="same")
    assert same(torch.randn(1, 2, 8, 8)).shape == (1, 2, 8, 8)
    assert Conv2d(2, 2, 3)(torch.randn(1, 2, 8, 8)).shape == (1, 2, 6, 6)  # fixed kernel: torch default 0


def test_depthwise_groups_follow_the_channel_choice():
    channels = ValueSpace([8, 16], key="width")
    conv = DepthwiseConv2d(channels, ValueSpace([3, 5], key="dk"))
    assert conv.weight.shape == (16, 1, 5, 5)
    for width in (8, 16):
        choose(channels, width)
        x = torch.randn(2, width, 7, 7)
        assert conv.train()(x).shape == (2, width, 7, 7)
        plain = assert_export_matches(conv, x, expected_type=nn.Conv2d)
        assert plain.groups == width and plain.weight.shape == (width, 1, 5, 5)
    # same tie through the generic spelling, with a channel multiplier of 2
    wide = Conv2d(channels, ValueSpace([16, 32], key="wide"), 3, groups="in_channels")
    choose(channels, 8)
    choose(wide.out_channels, 16)
    assert wide(torch.randn(1, 8, 5, 5)).shape == (1, 16, 3, 3)
    assert wide.export_module().groups == 8


def test_searchable_groups():
    groups = ValueSpace([1, 2, 4], key="groups")
    conv = Conv2d(8, 8, 3, groups=groups, padding=1)
    assert conv.weight.shape == (8, 8, 3, 3)  # room for the smallest number of groups
    for g in (4, 2, 1):
        choose(groups, g)
        x = torch.randn(1, 8, 6, 6)
        plain = assert_export_matches(conv, x)
        assert plain.groups == g and plain.weight.shape == (8, 8 // g, 3, 3)


def test_transform_kernel_starts_as_centre_crop_and_is_learned():
    kernel = ValueSpace([3, 5, 7], key="k")
    conv = Conv2d(4, 6, kernel, transform_kernel=True)
    assert {name: tuple(p.shape) for name, p in conv.kernel_transforms.items()} == {"7to5": (25, 25), "5to3": (9, 9)}
    choose(kernel, 3)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(conv.active_weight(), conv.weight[:, :, 2:5, 2:5])  # identity init

    conv(x).square().sum().backward()
    assert conv.kernel_transforms["7to5"].grad.abs().sum() > 0  # applied progressively 7 -> 5 -> 3
    assert conv.kernel_transforms["5to3"].grad.abs().sum() > 0
    with torch.no_grad():
        conv.kernel_transforms["5to3"].copy_(torch.randn(9, 9))
    transformed = conv.active_weight()
    assert not torch.allclose(transformed, conv.weight[:, :, 2:5, 2:5])
    expected = (conv.weight[:, :, 2:5, 2:5].reshape(6, 4, 9) @ conv.kernel_transforms["5to3"].T).reshape(6, 4, 3, 3)
    torch.testing.assert_close(transformed, expected)  # 7to5 is still the identity
    assert_export_matches(conv, x, expected_type=nn.Conv2d)

    choose(kernel, 7)  # the largest kernel is the weight itself
    assert conv.active_weight() is conv.weight


# -- linear, normalisation, embedding -----------------------------------------------------------


def test_linear_slices_and_exports():
    cin, cout, bias = ValueSpace([6, 12], key="in"), ValueSpace([4, 8], key="out"), ValueSpace([0, 1], key="b")
    linear = Linear(cin, cout, bias)
    for i, o, b in [(6, 4, 0), (12, 8, 1), (6, 8, 1)]:
        choose(cin, i), choose(cout, o), choose(bias, b)
        x = torch.randn(3, i)
        linear.zero_grad()
        linear.train()(x).sum().backward()
        assert linear.weight.grad[:o, :i].abs().sum() > 0 and linear.weight.grad[o:].abs().sum() == 0
        plain = assert_export_matches(linear, x, expected_type=nn.Linear)
        assert plain.weight.shape == (o, i) and (plain.bias is not None) == bool(b)


@pytest.mark.parametrize(
    ("op", "shape"), [(BatchNorm1d, (8, 0)), (BatchNorm2d, (8, 0, 3, 3)), (BatchNorm3d, (8, 0, 2, 2, 2))]
)
def test_batchnorm_updates_only_the_active_running_stats(op, shape):
    features = ValueSpace([4, 8], key="features")
    bn = op(features)
    choose(features, 4)
    x = torch.randn(shape[0], 4, *shape[2:]) * 3 + 2
    bn.train()(x)
    assert bn.running_mean[:4].abs().sum() > 0 and bn.running_var[:4].sub(1).abs().sum() > 0
    assert bn.running_mean[4:].abs().sum() == 0 and torch.equal(bn.running_var[4:], torch.ones(4))
    assert bn.num_batches_tracked.item() == 1
    plain = assert_export_matches(bn, x, expected_type=op._plain)
    torch.testing.assert_close(plain.running_mean, bn.running_mean[:4])
    choose(features, 8)
    x = torch.randn(shape[0], 8, *shape[2:])
    assert_export_matches(bn, x)


def test_batchnorm_cumulative_average_and_no_running_stats():
    features = ValueSpace([2, 4], key="f")
    cumulative = BatchNorm2d(features, momentum=None)
    choose(features, 2)
    batches = [torch.randn(4, 2, 3, 3) + i for i in range(3)]
    for batch in batches:
        cumulative.train()(batch)
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(cumulative.running_mean[:2], means)

    stateless = BatchNorm2d(features, affine=False, track_running_stats=False)
    out = stateless.eval()(batches[2])
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    assert_export_matches(stateless, batches[2])


def test_layernorm_and_embedding():
    width = ValueSpace([8, 16], key="width")
    norm = LayerNorm(width)
    with torch.no_grad():
        norm.weight.uniform_()
        norm.bias.uniform_()
    vocab = ValueSpace([10, 20], key="vocab")
    embedding = Embedding(vocab, width, padding_idx=0)
    for size, words in [(8, 10), (16, 20)]:
        choose(width, size)
        choose(vocab, words)
        tokens = torch.randint(0, words, (3, 5))
        hidden = embedding(tokens)
        assert hidden.shape == (3, 5, size)
        assert_export_matches(embedding, tokens, expected_type=nn.Embedding)
        assert_export_matches(norm, hidden, expected_type=nn.LayerNorm)
    choose(width, 8)
    norm.train()(torch.randn(2, 8)).sum().backward()
    assert norm.weight.grad[:8].abs().sum() > 0 and norm.weight.grad[8:].abs().sum() == 0


# -- attention ----------------------------------------------------------------------------------


def test_attention_heads_and_width_are_searched_independently():
    embed = ValueSpace([16, 32], key="embed")
    heads = ValueSpace([2, 4], key="heads")
    attention = MultiheadAttention(embed, heads, head_dim=8, batch_first=True)
    assert attention.in_proj_weight.shape == (3, 32, 32)
    for e, h in [(32, 4), (16, 2), (32, 2), (16, 4)]:
        choose(embed, e), choose(heads, h)
        x = torch.randn(2, 5, e)
        output, weights = attention.train()(x, x, x)
        assert output.shape == (2, 5, e) and weights.shape == (2, 5, 5)
        expected = nn.MultiheadAttention if h * 8 == e else PlainMultiheadAttention
        plain = assert_export_matches(attention, x, x, x, expected_type=expected)
        padding = torch.zeros(2, 5, dtype=torch.bool)
        padding[:, -1] = True
        causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
        with torch.no_grad():
            ours = attention(x, x, x, key_padding_mask=padding, attn_mask=causal, need_weights=False)[0]
            theirs = plain(x, x, x, key_padding_mask=padding, attn_mask=causal, need_weights=False)[0]
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    choose(embed, 16), choose(heads, 2)
    attention.zero_grad()
    x = torch.randn(2, 5, 16)
    attention.train()(x, x, x)[0].sum().backward()
    grad = attention.in_proj_weight.grad
    assert grad[:, :16, :16].abs().sum() > 0 and grad[:, 16:].abs().sum() == 0 and grad[:, :, 16:].abs().sum() == 0


def test_attention_sequence_first_cross_attention():
    attention = MultiheadAttention(ValueSpace([8, 16], key="e"), ValueSpace([1, 2], key="h"))
    assert attention.head_dim == 8
    choose(attention.embed_dim, 8), choose(attention.num_heads, 1)
    query, memory = torch.randn(4, 2, 8), torch.randn(6, 2, 8)
    output, weights = attention(query, memory, memory, average_attn_weights=False)
    assert output.shape == (4, 2, 8) and weights.shape == (2, 1, 4, 6)
    assert_export_matches(attention, query, memory, memory, expected_type=nn.MultiheadAttention)


# -- allocation rule and errors -----------------------------------------------------------------


def test_value_larger_than_the_allocated_weight_names_the_key():
    width = ValueSpace([16, 32], key="stage1_width", mask=[1, 0])
    conv = Conv2d(3, width, 3)
    assert conv.weight.shape == (16, 3, 3, 3)  # every space fixed: a subnet layer of exactly that size
    width.mask = [0, 1]
    with pytest.raises(ValueError, match="'stage1_width'.*32.*16"):
        conv(torch.randn(1, 3, 5, 5))
    heads = ValueSpace([2, 4], key="heads", mask=[1, 0])
    attention = MultiheadAttention(16, heads, head_dim=8)
    heads.mask = [0, 1]
    x = torch.randn(3, 1, 16)
    with pytest.raises(ValueError, match="'heads'"):
        attention(x, x, x)


def test_one_undecided_space_allocates_the_largest_of_all():
    decided = ValueSpace([16, 32], key="decided", mask=[1, 0])
    open_ = ValueSpace([3, 5], key="open")
    conv = Conv2d(3, decided, open_)
    assert conv.weight.shape == (32, 3, 5, 5)
    assert conv(torch.randn(1, 3, 7, 7)).shape == (1, 16, 7, 7)


def test_mismatched_kernel_parity_is_rejected():
    with pytest.raises(ValueError, match="'k'"):
        Conv2d(3, 4, ValueSpace([3, 4, 5], key="k"))
