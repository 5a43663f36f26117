"""The AutoFormer-style ViT space: weight sharing, exported subnets, random and evolutionary search."""

from __future__ import annotations

import pytest
import torch

from hyperbox.kernel import SearchSpace
from hyperbox.nas.mutators import EvolutionMutator, RandomMutator
from hyperbox.networks.vit import VisionTransformerSpace

torch.set_num_threads(1)


def digits_space(**kwargs) -> VisionTransformerSpace:
    torch.manual_seed(0)
    settings = dict(embed_dims=[16, 32], depths=[1, 2], num_heads=[2, 4], mlp_ratios=[2, 4])
    return VisionTransformerSpace(8, 2, 1, 10, **{**settings, **kwargs})


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_params(width: int, depth: int, heads: list[int], ratios: list[float], head_dim: int = 8) -> int:
    """A ViT's parameters written out: 8x8 images, 2x2 patches (16 + 1 tokens), 1 channel, 10 classes."""
    total = (4 * width + width) + width + 17 * width  # patch conv, class token, position embedding
    for h, ratio in zip(heads[:depth], ratios[:depth]):
        inner, hidden = h * head_dim, int(width * ratio)
        total += 2 * 2 * width  # two LayerNorms
        total += 3 * (inner * width + inner) + width * inner + width  # q, k, v and output projections
        total += width * hidden + hidden + hidden * width + width  # MLP
    return total + 2 * width + width * 10 + 10  # final LayerNorm and head


def test_space_has_the_searchable_keys() -> None:
    space = SearchSpace.of(digits_space())
    assert sorted(space) == sorted(
        ["embed_dim", "depth", "blocks.0.num_heads", "blocks.0.mlp_ratio", "blocks.1.num_heads", "blocks.1.mlp_ratio"]
    )


@pytest.mark.parametrize(
    ("arch", "width", "depth", "heads", "ratios"),
    [
        ({"embed_dim": 1, "depth": 1, "blocks.0.num_heads": 1, "blocks.0.mlp_ratio": 1,
          "blocks.1.num_heads": 1, "blocks.1.mlp_ratio": 1}, 32, 2, [4, 4], [4, 4]),
        ({"embed_dim": 0, "depth": 0, "blocks.0.num_heads": 0, "blocks.0.mlp_ratio": 0,
          "blocks.1.num_heads": 1, "blocks.1.mlp_ratio": 1}, 16, 1, [2], [2]),
        ({"embed_dim": 0, "depth": 1, "blocks.0.num_heads": 1, "blocks.0.mlp_ratio": 0,
          "blocks.1.num_heads": 0, "blocks.1.mlp_ratio": 1}, 16, 2, [4, 2], [2, 4]),
    ],
)  # fmt: skip
def test_subnets_keep_only_their_sizes(arch, width, depth, heads, ratios) -> None:
    network = digits_space()
    subnet = network.build_subnet(arch)
    # head_dim defaults to the largest width over the largest head count: 32 / 4.
    assert count(subnet) == expected_params(width, depth, heads, ratios)
    assert len(subnet.blocks) == depth
    # Weight sharing: the subnet's weights are the leading slices of the supernet's.
    torch.testing.assert_close(subnet.patch_embed.weight, network.patch_embed.weight[:width])
    hidden = int(width * ratios[0])
    torch.testing.assert_close(subnet.blocks[0].mlp[0].weight, network.blocks[0].mlp.fc1.weight[:hidden, :width])


def test_supernet_and_subnet_agree_on_random_architectures() -> None:
    network = digits_space().eval()
    mutator = RandomMutator(network, seed=0)
    x = torch.rand(3, 1, 8, 8)
    for _ in range(6):
        mutator.reset()
        torch.testing.assert_close(network.build_subnet()(x), network(x), atol=1e-5, rtol=0)


def test_training_a_small_subnet_moves_only_its_slice() -> None:
    network = digits_space()
    SearchSpace.of(network).apply(
        {"embed_dim": 0, "depth": 0, "blocks.0.num_heads": 0, "blocks.0.mlp_ratio": 0,
         "blocks.1.num_heads": 0, "blocks.1.mlp_ratio": 0}
    )  # fmt: skip
    before = network.patch_embed.weight.detach().clone()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(network(torch.rand(4, 1, 8, 8)), torch.arange(4)).backward()
    optimizer.step()
    after = network.patch_embed.weight.detach()
    assert not torch.equal(after[:16], before[:16])
    assert torch.equal(after[16:], before[16:])


def test_evolution_searches_the_space() -> None:
    network = digits_space().eval()
    mutator = EvolutionMutator(network, seed=0, population_size=4, sample_size=2)
    for step in range(8):
        arch = mutator.reset()
        assert network(torch.rand(2, 1, 8, 8)).shape == (2, 10)
        mutator.observe(SearchSpace.of(network).to_json(arch), {"accuracy": float(step)})


def test_bad_architecture_and_shapes_are_errors() -> None:
    with pytest.raises(ValueError, match="embed_dim"):
        digits_space(mask={"embed_dim": 5, "depth": 0, "blocks.0.num_heads": 0, "blocks.0.mlp_ratio": 0,
                           "blocks.1.num_heads": 0, "blocks.1.mlp_ratio": 0})  # fmt: skip
    with pytest.raises(ValueError, match="patch_size"):
        VisionTransformerSpace(8, 3, 1, 10, embed_dims=[16], depths=[1], num_heads=[2], mlp_ratios=[2])


def test_a_network_built_with_mask_is_the_supernets_subnet():
    settings = dict(
        image_size=8,
        patch_size=4,
        in_channels=1,
        num_classes=10,
        embed_dims=(16, 24, 32),
        depths=(1, 2),
        num_heads=(2, 4),
        mlp_ratios=(2.0, 4.0),
    )
    supernet = VisionTransformerSpace(**settings)
    mutator = RandomMutator(supernet, seed=1)
    for _ in range(4):
        arch = mutator.space.to_json(mutator.reset())
        subnet = supernet.build_subnet(arch)
        fixed = VisionTransformerSpace(**settings, mask=arch).build_subnet(arch)
        fixed.load_state_dict(subnet.state_dict())  # same names and shapes
        assert sum(p.numel() for p in fixed.parameters()) == sum(p.numel() for p in subnet.parameters())
