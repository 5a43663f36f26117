"""Cell architectures in the DARTS paper's format, and the published ones.

A genotype lists, per cell kind, two ``(operation, input)`` pairs per intermediate node (inputs 0
and 1 are the two previous cells' outputs, ``i >= 2`` the cell's own node ``i``) and the nodes
whose outputs the cell concatenates.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from typing import Any

from hyperbox.networks.darts.operations import PRIMITIVES

__all__ = ["Genotype", "DARTS_V1", "DARTS_V2", "as_genotype", "cell_edges", "edge_key"]

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

# The published cells, as listed in the reference code's cnn/genotypes.py (quark0/darts):
# V1 from first-order search, V2 (the paper's "DARTS (second order)") from second-order search.
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)  # fmt: skip
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)  # fmt: skip


def as_genotype(genotype: Genotype | Mapping[str, Any]) -> Genotype:
    """A :class:`Genotype` from itself or its JSON form (a mapping with the four fields, pairs as lists)."""
    if isinstance(genotype, Genotype):
        fields = genotype._asdict()
    elif isinstance(genotype, Mapping):
        missing = [name for name in Genotype._fields if name not in genotype]
        if missing:
            raise ValueError(f"genotype: missing field(s) {missing}")
        fields = dict(genotype)
    else:
        raise ValueError(f"genotype: expected a Genotype or a mapping, got {type(genotype).__name__}")
    return Genotype(
        normal=[tuple(pair) for pair in fields["normal"]],
        normal_concat=list(fields["normal_concat"]),
        reduce=[tuple(pair) for pair in fields["reduce"]],
        reduce_concat=list(fields["reduce_concat"]),
    )


def edge_key(kind: str, node: int, source: int) -> str:
    """The architecture key of the edge ``source -> node`` in cells of ``kind`` (``normal``/``reduce``)."""
    return f"{kind}.n{node}_e{source}"


def cell_edges(genotype: Genotype, kind: str) -> list[tuple[int, int, str]]:
    """``(node, source, operation)`` of every edge of the ``kind`` cell, checked: a ``ValueError`` names
    the edge whose operation is unknown or whose input does not precede its node."""
    gene = getattr(genotype, kind)
    if len(gene) % 2 or not gene:
        raise ValueError(f"genotype {kind}: {len(gene)} edges; expected two per node")
    edges = []
    for position, pair in enumerate(gene):
        if len(pair) != 2:
            raise ValueError(f"genotype {kind}[{position}]: {pair!r} is not an (operation, input) pair")
        name, source = pair
        node = 2 + position // 2
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node:
            raise ValueError(f"genotype {kind}[{position}]: node {node} cannot take input {source!r}")
        if name not in PRIMITIVES:
            raise ValueError(
                f"genotype edge {edge_key(kind, node, source)!r}: unknown operation {name!r}; known: {list(PRIMITIVES)}"
            )
        edges.append((node, source, name))
    for node in range(2, 2 + len(gene) // 2):
        sources = [source for n, source, _ in edges if n == node]
        if len(set(sources)) != len(sources):
            raise ValueError(f"genotype {kind}: node {node} takes input {sources[0]} twice")
    concat = getattr(genotype, f"{kind}_concat")
    if not concat or any(not 0 <= i < 2 + len(gene) // 2 for i in concat):
        raise ValueError(f"genotype {kind}_concat: {list(concat)} must name existing nodes")
    return edges
