"""NAS-Bench-201 architecture strings (``|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|...|``) and
architectures (``{"n1_e0": index, ...}``), converted both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperbox.kernel import Categorical
from hyperbox.networks.nb201.operations import OPERATIONS

__all__ = ["NODES", "EDGES", "edge_key", "arch_from_string", "arch_to_string"]

#: Intermediate nodes of a cell (node 0 is the cell input; the last node is its output).
NODES = 3


def edge_key(node: int, source: int) -> str:
    """The architecture key of the edge ``source -> node``."""
    return f"n{node}_e{source}"


#: Every edge, in the benchmark string's order.
EDGES = tuple((node, source) for node in range(1, NODES + 1) for source in range(node))


def arch_from_string(arch_string: str) -> dict[str, int]:
    """The architecture of a benchmark string; a ``ValueError`` names the edge that is unknown,
    missing or repeated, or whose operation is unknown."""
    node_strings = arch_string.split("+")
    if len(node_strings) != NODES:
        raise ValueError(f"NAS-Bench-201 string {arch_string!r}: {len(node_strings)} nodes, expected {NODES}")
    arch: dict[str, int] = {}
    for node, node_string in enumerate(node_strings, start=1):
        for entry in filter(None, node_string.split("|")):
            name, _, source = entry.partition("~")
            if not source.isdigit() or int(source) >= node:
                raise ValueError(
                    f"NAS-Bench-201 node {node}: entry {entry!r} must be 'operation~input' with input < {node}"
                )
            key = edge_key(node, int(source))
            if key in arch:
                raise ValueError(f"NAS-Bench-201 edge {key!r}: given twice")
            if name not in OPERATIONS:
                raise ValueError(f"NAS-Bench-201 edge {key!r}: unknown operation {name!r}; known: {list(OPERATIONS)}")
            arch[key] = OPERATIONS.index(name)
    missing = [edge_key(*edge) for edge in EDGES if edge_key(*edge) not in arch]
    if missing:
        raise ValueError(f"NAS-Bench-201 string {arch_string!r}: missing edge(s) {missing}")
    return {edge_key(*edge): arch[edge_key(*edge)] for edge in EDGES}


def arch_to_string(arch: Mapping[str, Any]) -> str:
    """The benchmark string of an architecture (decisions as indices or one-hot masks)."""
    domain = Categorical(len(OPERATIONS), labels=OPERATIONS)
    nodes = []
    for node in range(1, NODES + 1):
        entries = []
        for source in range(node):
            key = edge_key(node, source)
            if key not in arch:
                raise ValueError(f"NAS-Bench-201 architecture: missing edge {key!r}")
            entries.append(f"{OPERATIONS[domain.normalize(arch[key], key)]}~{source}")
        nodes.append("|" + "|".join(entries) + "|")
    return "+".join(nodes)
