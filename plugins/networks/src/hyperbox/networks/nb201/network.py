"""The NAS-Bench-201 search space: the benchmark's cell on every one of its 15 cells, one shared architecture."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyperbox.nas.spaces import OperationSpace
from hyperbox.networks.base import BaseNASNetwork
from hyperbox.networks.nb201.archstring import EDGES, NODES, arch_from_string, arch_to_string, edge_key
from hyperbox.networks.nb201.operations import OPERATIONS, ResNetBasicBlock, operation

__all__ = ["NB201Network", "NB201Cell"]


class NB201Cell(nn.Module):
    """A densely connected cell: node ``i`` sums an :class:`OperationSpace` edge from every earlier node;
    the cell outputs its last node."""

    def __init__(self, channels: int, mask: Any) -> None:
        super().__init__()
        self.edges = nn.ModuleDict(
            {
                edge_key(node, source): OperationSpace(
                    {name: operation(name, channels) for name in OPERATIONS}, key=edge_key(node, source), mask=mask
                )
                for node, source in EDGES
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NODES + 1):
            total = self.edges[edge_key(node, 0)](nodes[0])
            for source in range(1, node):
                total = total + self.edges[edge_key(node, source)](nodes[source])
            nodes.append(total)
        return nodes[-1]


class NB201Network(BaseNASNetwork):
    """The NAS-Bench-201 network (the benchmark's ``TinyNetwork``) with searchable cells.

    Stem (3x3 convolution to ``C`` channels, batch norm); three stages of ``N`` cells with ``C``,
    ``2C`` and ``4C`` channels, joined by stride-2 residual blocks; batch norm, ReLU, global average
    pooling and a linear classifier. Each of the cell's six edges (keys ``n1_e0`` ... ``n3_e2``,
    shared by all cells) chooses one of :data:`OPERATIONS`. Unlike ``TinyNetwork``, which returns
    ``(features, logits)``, ``forward`` returns the logits.

    ``mask`` takes an architecture, or a benchmark string such as
    ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"``.
    """

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        mask: Mapping[str, Any] | str | os.PathLike | None = None,
    ) -> None:
        if isinstance(mask, str) and mask.startswith("|"):
            mask = arch_from_string(mask)
        super().__init__(mask)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage:
                cells.append(ResNetBasicBlock(channels, 2 * channels))
                channels *= 2
            cells.extend(NB201Cell(channels, self.mask) for _ in range(N))
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.check_mask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.global_pooling(self.lastact(self.cells(self.stem(x))))
        return self.classifier(features.flatten(1))

    def arch_string(self, arch: Mapping[str, Any] | None = None) -> str:
        """The benchmark string of ``arch`` (default: the current decisions)."""
        return arch_to_string(self.arch if arch is None else arch)
