"""The DARTS evaluation network built from a genotype (the paper's ``NetworkCIFAR``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyperbox.networks.darts.genotypes import Genotype, as_genotype, cell_edges
from hyperbox.networks.darts.operations import FactorizedReduce, ReLUConvBN, operation
from hyperbox.networks.darts.search import reduction_layers

__all__ = ["DartsEvalNetwork", "AuxiliaryHeadCIFAR", "drop_path"]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the others (ScheduledDropPath)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


class EvalCell(nn.Module):
    """A cell of a genotype: each node sums its two edges; outputs the ``concat`` nodes concatenated."""

    def __init__(
        self, genotype: Genotype, kind: str, c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool
    ) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        edges = cell_edges(genotype, kind)
        self.sources = [source for _, source, _ in edges]
        self.ops = nn.ModuleList(
            operation(name, channels, 2 if kind == "reduce" and source < 2 else 1, search=False)
            for _, source, name in edges
        )
        self.concat = list(getattr(genotype, f"{kind}_concat"))
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for first in range(0, len(self.ops), 2):
            total = 0
            for index in (first, first + 1):  # a node's two edges (indexing, not slicing the ModuleList)
                op, source = self.ops[index], self.sources[index]
                h = op(states[source])
                # Drop-path spares identity edges, as the reference does.
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """The auxiliary classifier on the 8x8 feature map after the second reduction cell."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsEvalNetwork(nn.Module):
    """The network the paper trains from scratch for a genotype (``NetworkCIFAR``).

    Stem of ``3 * C`` channels, ``layers`` cells with reductions at 1/3 and 2/3 of the depth,
    global pooling and a linear classifier; with ``auxiliary``, an auxiliary head on the output of
    the second reduction cell. ``forward`` returns ``(logits, auxiliary logits)``, the latter
    ``None`` outside training or without the head. ``drop_path_prob`` may be changed between epochs
    (the reference raises it linearly from 0).

    Raises ``ValueError`` naming the edge of a genotype with an unknown operation.
    """

    def __init__(
        self,
        genotype: Genotype | Mapping[str, Any],
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        auxiliary: bool = True,
        drop_path_prob: float = 0.2,
        in_channels: int = 3,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        genotype = as_genotype(genotype)
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob
        self.auxiliary_index = 2 * layers // 3
        c_current = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_current, 3, padding=1, bias=False), nn.BatchNorm2d(c_current)
        )
        c_prev_prev, c_prev, c_current = c_current, c_current, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_auxiliary = c_prev
        for index in range(layers):
            reduction = index in reduction_layers(layers)
            if reduction:
                c_current *= 2
            kind = "reduce" if reduction else "normal"
            cell = EvalCell(genotype, kind, c_prev_prev, c_prev, c_current, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_current
            if index == self.auxiliary_index:
                c_auxiliary = c_prev
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_auxiliary, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits_aux = None
        s0 = s1 = self.stem(x)
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if index == self.auxiliary_index and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux
