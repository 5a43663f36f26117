"""Searchable embedding table: vocabulary size and embedding width from ``ValueSpace``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import SearchableOp, copy_into, describe, sliced

__all__ = ["Embedding"]


@dataclass(frozen=True)
class _EmbeddingConfig:
    num_embeddings: int
    embedding_dim: int
    index: tuple | None  # None: the whole table


class Embedding(SearchableOp):
    """Searchable ``nn.Embedding``: the active table is the view ``weight[:num_embeddings, :embedding_dim]``.

    A searchable width keeps the leading features of every row (AutoFormer's super embedding).
    """

    def __init__(self, num_embeddings: Any, embedding_dim: Any, padding_idx: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = nn.Parameter(torch.empty(self.allocated(num_embeddings), self.allocated(embedding_dim)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The default torch initialisation: standard normal, the padding row zero."""
        nn.init.normal_(self.weight)
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].zero_()

    def configure(self) -> _EmbeddingConfig:
        rows, width = self.weight.shape
        num_embeddings = self.fitted(self.num_embeddings, rows, "num_embeddings")
        embedding_dim = self.fitted(self.embedding_dim, width, "embedding_dim")
        if self.padding_idx is not None and self.padding_idx >= num_embeddings:
            raise ValueError(f"Embedding: padding_idx={self.padding_idx} is outside {num_embeddings} embeddings")
        whole = (num_embeddings, embedding_dim) == (rows, width)
        return _EmbeddingConfig(
            num_embeddings, embedding_dim, None if whole else (slice(None, num_embeddings), slice(None, embedding_dim))
        )

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, sliced(self.weight, self.active().index), self.padding_idx)

    def export_module(self) -> nn.Embedding:
        """A plain ``nn.Embedding`` holding a copy of the active table."""
        config = self.active()
        plain = nn.Embedding(
            config.num_embeddings,
            config.embedding_dim,
            self.padding_idx,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        copy_into(plain.weight, sliced(self.weight, config.index))
        return plain.train(self.training)

    def extra_repr(self) -> str:
        return f"{describe(self.num_embeddings)}, {describe(self.embedding_dim)}, padding_idx={self.padding_idx}"
