"""An AutoFormer-style vision transformer space (Chen et al., 2021): embedding width, depth, and
per-block heads and MLP ratio searched with weight sharing.

The supernet holds the largest width everywhere; a subnet of width ``d`` uses the first ``d``
features of every weight (patch embedding, class token, position embedding, norms, attention,
MLP, head), the first ``h`` heads of each attention, a hidden MLP width of ``int(d * ratio)``,
and the first ``L`` blocks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperbox.nas.ops import Conv2d, LayerNorm, Linear, MultiheadAttention
from hyperbox.nas.spaces import ValueSpace
from hyperbox.networks.base import BaseNASNetwork

__all__ = ["VisionTransformerSpace"]


def _value(space: Any) -> Any:
    """The value of a ``ValueSpace`` or of the ``FixedValue`` that replaces it in an exported subnet."""
    return space.value


class Tokens(nn.Module):
    """Prepends the class token and adds the position embedding, both sliced to the input's width."""

    def __init__(self, num_patches: int, embed_dim: ValueSpace) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        width = _value(embed_dim)  # the largest candidate while undecided
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, width))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        width = patches.shape[-1]
        cls = self.cls_token[..., :width].expand(patches.shape[0], -1, -1)
        return torch.cat([cls, patches], dim=1) + self.pos_embed[..., :width]

    def export_module(self) -> Tokens:
        """Class token and position embedding of the active width only (copies)."""
        plain = Tokens(self.pos_embed.shape[1] - 1, self.embed_dim).to(self.pos_embed)
        width = plain.cls_token.shape[-1]
        with torch.no_grad():
            plain.cls_token.copy_(self.cls_token[..., :width])
            plain.pos_embed.copy_(self.pos_embed[..., :width])
        return plain


class MLP(nn.Module):
    """fc1 (width ``d`` to ``int(d * ratio)``), GELU, fc2 back to ``d``, on the leading slices of the
    largest weights. The hidden width depends on two decisions, so the layers slice here rather
    than through searchable ``Linear`` ops (which take one space per size)."""

    def __init__(self, embed_dim: ValueSpace, mlp_ratio: ValueSpace) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.mlp_ratio = mlp_ratio
        width = _value(embed_dim)  # the largest candidates while undecided
        self.fc1 = nn.Linear(width, int(width * _value(mlp_ratio)))
        self.fc2 = nn.Linear(self.fc1.out_features, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        hidden = int(width * _value(self.mlp_ratio))
        x = F.gelu(F.linear(x, self.fc1.weight[:hidden, :width], self.fc1.bias[:hidden]))
        return F.linear(x, self.fc2.weight[:width, :hidden], self.fc2.bias[:width])

    def export_module(self) -> nn.Sequential:
        """``Linear, GELU, Linear`` of the active sizes with copies of the active weights."""
        width = _value(self.embed_dim)
        hidden = int(width * _value(self.mlp_ratio))
        fc1, fc2 = nn.Linear(width, hidden).to(self.fc1.weight), nn.Linear(hidden, width).to(self.fc1.weight)
        with torch.no_grad():
            fc1.weight.copy_(self.fc1.weight[:hidden, :width])
            fc1.bias.copy_(self.fc1.bias[:hidden])
            fc2.weight.copy_(self.fc2.weight[:width, :hidden])
            fc2.bias.copy_(self.fc2.bias[:width])
        return nn.Sequential(fc1, nn.GELU(), fc2).train(self.training)


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attention(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(
        self, embed_dim: ValueSpace, num_heads: ValueSpace, mlp_ratio: ValueSpace, head_dim: int | None
    ) -> None:
        super().__init__()
        self.attn_norm = LayerNorm(embed_dim, eps=1e-6)
        self.attn = MultiheadAttention(embed_dim, num_heads, head_dim=head_dim, batch_first=True)
        self.mlp_norm = LayerNorm(embed_dim, eps=1e-6)
        self.mlp = MLP(embed_dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.attn_norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.mlp_norm(x))


class VisionTransformerSpace(BaseNASNetwork):
    """A ViT search space with AutoFormer's weight sharing.

    Searchable: ``embed_dim`` (one width for the whole network, from ``embed_dims``), ``depth``
    (the first ``L`` blocks, from ``depths``), and per block ``blocks.{i}.num_heads`` (from
    ``num_heads``) and ``blocks.{i}.mlp_ratio`` (from ``mlp_ratios``). Patches are embedded by a
    searchable stride-``patch_size`` ``Conv2d``; blocks are pre-norm (searchable ``LayerNorm``,
    ``MultiheadAttention`` with a fixed per-head width ``head_dim`` -- default: the largest width over
    the largest head count -- and an MLP); the class token goes through a final ``LayerNorm`` and a
    searchable ``Linear`` head. The defaults are AutoFormer-T's space on ImageNet.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        num_classes: int = 1000,
        embed_dims: Sequence[int] = (192, 216, 240),
        depths: Sequence[int] = (12, 13, 14),
        num_heads: Sequence[int] = (3, 4),
        mlp_ratios: Sequence[float] = (3.5, 4.0),
        head_dim: int | None = None,
        mask: Mapping[str, Any] | str | os.PathLike | None = None,
    ) -> None:
        super().__init__(mask)
        if image_size % patch_size:
            raise ValueError(
                f"VisionTransformerSpace: image_size={image_size} is not a multiple of patch_size={patch_size}"
            )
        # Fixed here, not left to the attention op: a network built with ``mask=`` allocates only the
        # chosen widths, and its per-head width must still be the supernet's.
        head_dim = head_dim or max(embed_dims) // max(num_heads)
        self.embed_dim = ValueSpace(list(embed_dims), key="embed_dim", mask=self.mask)
        self.depth = ValueSpace(list(depths), key="depth", mask=self.mask)
        self.patch_embed = Conv2d(in_channels, self.embed_dim, patch_size, stride=patch_size, padding=0)
        self.tokens = Tokens((image_size // patch_size) ** 2, self.embed_dim)
        self.blocks = nn.ModuleList(
            Block(
                self.embed_dim,
                ValueSpace(list(num_heads), key=f"blocks.{i}.num_heads", mask=self.mask),
                ValueSpace(list(mlp_ratios), key=f"blocks.{i}.mlp_ratio", mask=self.mask),
                head_dim,
            )
            for i in range(max(depths))
        )
        self.norm = LayerNorm(self.embed_dim, eps=1e-6)
        self.head = Linear(self.embed_dim, num_classes)
        self.check_mask()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.tokens(self.patch_embed(images).flatten(2).transpose(1, 2))
        for block in islice(self.blocks, _value(self.depth)):
            x = block(x)
        return self.head(self.norm(x[:, 0]))

    def export_module(self) -> VisionTransformerSpace:
        """This network without the blocks beyond the chosen depth (``build_subnet`` calls it)."""
        del self.blocks[_value(self.depth) :]
        return self
