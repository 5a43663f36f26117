"""Searchable multi-head attention in the AutoFormer style: searchable width and head count, fixed head width."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import SearchableOp, copy_into, describe, sliced

__all__ = ["MultiheadAttention", "PlainMultiheadAttention"]


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """torch's mask conventions (bool: True = not attended; float: added to the scores) as one float mask."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask, float("-inf"))
    return mask.to(dtype)


def multihead_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    in_weight: torch.Tensor,
    in_bias: torch.Tensor | None,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor | None,
    num_heads: int,
    dropout: float,
    batch_first: bool,
    key_padding_mask: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Multi-head attention with separate q/k/v projections ``in_weight[0..2]`` of any width ``heads * head_dim``.

    Same inputs, masks and outputs as ``nn.MultiheadAttention`` (batched inputs only); ``dropout``
    is the probability to apply now (0 in eval).
    """
    if not batch_first:
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    batch, target_len = query.shape[:2]
    source_len = key.shape[1]

    def split_heads(x: torch.Tensor, which: int) -> torch.Tensor:  # (B, T, E) -> (B, heads, T, head_dim)
        bias = None if in_bias is None else in_bias[which]
        return F.linear(x, in_weight[which], bias).unflatten(-1, (num_heads, -1)).transpose(1, 2)

    q, k, v = split_heads(query, 0), split_heads(key, 1), split_heads(value, 2)
    mask = None
    if attn_mask is not None:
        mask = _additive(attn_mask, q.dtype)
        if mask.dim() == 3:  # (batch * heads, L, S)
            mask = mask.view(batch, num_heads, target_len, source_len)
    if key_padding_mask is not None:
        padding = _additive(key_padding_mask, q.dtype).view(batch, 1, 1, source_len)
        mask = padding if mask is None else mask + padding

    weights = None
    if need_weights:
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        weights = (scores if mask is None else scores + mask).softmax(dim=-1)
        weights = F.dropout(weights, dropout) if dropout else weights
        attended = weights @ v
    else:
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    output = F.linear(attended.transpose(1, 2).flatten(2), out_weight, out_bias)
    if not batch_first:
        output = output.transpose(0, 1)
    if weights is not None and average_attn_weights:
        weights = weights.mean(dim=1)
    return output, weights


class _AttentionBase(nn.Module):
    """The forward signature of ``nn.MultiheadAttention``, over weights supplied by :meth:`_weights`."""

    dropout: float
    batch_first: bool

    def _weights(self) -> tuple[int, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        num_heads, in_weight, in_bias, out_weight, out_bias = self._weights()
        return multihead_attention(
            query,
            key,
            value,
            in_weight,
            in_bias,
            out_weight,
            out_bias,
            num_heads,
            self.dropout if self.training else 0.0,
            self.batch_first,
            key_padding_mask,
            attn_mask,
            need_weights,
            average_attn_weights,
        )


class PlainMultiheadAttention(_AttentionBase):
    """Fixed multi-head attention whose q/k/v width ``num_heads * head_dim`` may differ from ``embed_dim``.

    ``nn.MultiheadAttention`` ties that width to ``embed_dim``; this is what
    :meth:`MultiheadAttention.export_module` returns when they differ. Same call signature.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        head_dim: int,
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.dropout = dropout
        self.batch_first = batch_first
        inner = num_heads * head_dim
        self.in_proj_weight = nn.Parameter(torch.zeros(3, inner, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3, inner)) if bias else None
        self.out_proj_weight = nn.Parameter(torch.zeros(embed_dim, inner))
        self.out_proj_bias = nn.Parameter(torch.zeros(embed_dim)) if bias else None

    def _weights(self) -> tuple:
        return self.num_heads, self.in_proj_weight, self.in_proj_bias, self.out_proj_weight, self.out_proj_bias


@dataclass(frozen=True)
class _AttentionConfig:
    embed_dim: int
    num_heads: int
    in_index: tuple | None  # None: whole weights
    out_index: tuple | None
    out_bias_index: slice | None


class MultiheadAttention(SearchableOp, _AttentionBase):
    """AutoFormer-style searchable ``nn.MultiheadAttention`` (self- or cross-attention).

    ``embed_dim`` (the model width: features in and out) and ``num_heads`` may be ``ValueSpace``.
    As in AutoFormer with ``change_qkv=True``, the width of one head is fixed (``head_dim``;
    AutoFormer uses 64) and the q/k/v width is ``num_heads * head_dim``: choosing fewer heads drops
    whole heads instead of narrowing every head, and the width and the head count are searched
    independently. ``head_dim`` defaults to the largest ``embed_dim`` over the largest ``num_heads``,
    so the largest configuration is a standard attention layer.

    Weights are stored per projection -- ``in_proj_weight`` has shape ``(3, heads * head_dim, embed)``
    -- so the active q, k and v weights are the views ``in_proj_weight[i, :heads * head_dim, :embed]``
    (the first heads, the leading features). The scale is ``head_dim ** -0.5`` whatever the choice.

    Calls and returns like ``nn.MultiheadAttention`` (``(output, weights)``; batched inputs).
    ``export_module`` gives an ``nn.MultiheadAttention`` when ``num_heads * head_dim == embed_dim``
    and a :class:`PlainMultiheadAttention` otherwise.
    """

    def __init__(
        self,
        embed_dim: Any,
        num_heads: Any,
        head_dim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
    ) -> None:
        super().__init__(embed_dim, num_heads)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        max_embed, max_heads = self.allocated(embed_dim), self.allocated(num_heads)
        self.head_dim = head_dim or max_embed // max_heads
        inner = max_heads * self.head_dim
        self.in_proj_weight = nn.Parameter(torch.empty(3, inner, max_embed))
        self.in_proj_bias = nn.Parameter(torch.zeros(3, inner)) if bias else None
        self.out_proj_weight = nn.Parameter(torch.empty(max_embed, inner))
        self.out_proj_bias = nn.Parameter(torch.zeros(max_embed)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation: Xavier for the input projections, the Linear default for the output one."""
        nn.init.xavier_uniform_(self.in_proj_weight.view(-1, self.in_proj_weight.shape[-1]))
        nn.init.kaiming_uniform_(self.out_proj_weight, a=math.sqrt(5))
        for bias in (self.in_proj_bias, self.out_proj_bias):
            if bias is not None:
                nn.init.zeros_(bias)

    def configure(self) -> _AttentionConfig:
        _, inner_allocated, embed_allocated = self.in_proj_weight.shape
        embed = self.fitted(self.embed_dim, embed_allocated, "embed_dim")
        heads = self.fitted(self.num_heads, inner_allocated // self.head_dim, "num_heads")
        inner = heads * self.head_dim
        whole = (inner, embed) == (inner_allocated, embed_allocated)
        return _AttentionConfig(
            embed_dim=embed,
            num_heads=heads,
            in_index=None if whole else (slice(None), slice(None, inner), slice(None, embed)),
            out_index=None if whole else (slice(None, embed), slice(None, inner)),
            out_bias_index=None if embed == embed_allocated else slice(None, embed),
        )

    def _weights(self) -> tuple:
        config = self.active()
        return (
            config.num_heads,
            sliced(self.in_proj_weight, config.in_index),
            sliced(self.in_proj_bias, None if config.in_index is None else config.in_index[:2]),
            sliced(self.out_proj_weight, config.out_index),
            sliced(self.out_proj_bias, config.out_bias_index),
        )

    def export_module(self) -> nn.Module:
        """``nn.MultiheadAttention`` (or :class:`PlainMultiheadAttention`) with a copy of the active weights."""
        num_heads, in_weight, in_bias, out_weight, out_bias = self._weights()
        embed, inner = out_weight.shape
        factory = dict(device=self.in_proj_weight.device, dtype=self.in_proj_weight.dtype)
        if inner == embed:
            plain = nn.MultiheadAttention(
                embed, num_heads, self.dropout, bias=in_bias is not None, batch_first=self.batch_first, **factory
            )
            copy_into(plain.in_proj_weight, in_weight.reshape(3 * inner, embed))
            copy_into(plain.in_proj_bias, None if in_bias is None else in_bias.reshape(3 * inner))
            copy_into(plain.out_proj.weight, out_weight)
            copy_into(plain.out_proj.bias, out_bias)
        else:
            plain = PlainMultiheadAttention(
                embed, num_heads, self.head_dim, in_bias is not None, self.dropout, self.batch_first
            ).to(**factory)
            for target, source in zip(plain._weights()[1:], (in_weight, in_bias, out_weight, out_bias)):
                copy_into(target, source)
        return plain.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"embed_dim={describe(self.embed_dim)}, num_heads={describe(self.num_heads)}, head_dim={self.head_dim}, "
            f"dropout={self.dropout}, batch_first={self.batch_first}"
        )
