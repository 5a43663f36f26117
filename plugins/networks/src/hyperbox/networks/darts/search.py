"""The DARTS search network (Liu et al., 2019): a stack of cells whose edges mix the eight operations."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import SearchSpace, load_arch
from hyperbox.nas.spaces import InputSpace, OperationSpace, combine
from hyperbox.networks.base import BaseNASNetwork
from hyperbox.networks.darts.genotypes import Genotype, as_genotype, cell_edges, edge_key
from hyperbox.networks.darts.operations import PRIMITIVES, FactorizedReduce, ReLUConvBN, operation

__all__ = ["DartsNetwork", "NodeInputs", "reduction_layers"]

CELL_KINDS = ("normal", "reduce")


def reduction_layers(layers: int) -> tuple[int, int]:
    """The indices of the two reduction cells: at 1/3 and 2/3 of the depth, as in the paper."""
    return layers // 3, 2 * layers // 3


def inputs_key(kind: str, node: int) -> str:
    """The architecture key of the inputs that node ``node`` of ``kind`` cells keeps."""
    return f"{kind}.n{node}_inputs"


class NodeInputs(InputSpace):
    """The two incoming edges an intermediate node keeps in the derived cell.

    While searching, the paper's node is the plain sum of *all* its incoming (mixed) edges, so the
    mixed mode ignores the mixer's weights; which two edges survive is decided by the operation
    weights (:meth:`DartsNetwork.derive_genotype`) or by a discrete mutator.
    """

    def _forward_mixed(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return combine(list(inputs), "sum")


def _used_inputs(node_inputs: nn.Module) -> Sequence[int]:
    """The edges a node reads now: every one while mixing or undecided, else the chosen ones."""
    chosen = getattr(node_inputs, "chosen", None)  # the SelectInputs of an exported subnet
    if chosen is not None:
        return chosen
    if node_inputs.mixer is None and node_inputs.decision is not None:
        return node_inputs.decision
    return range(node_inputs.n_candidates)


class SearchCell(nn.Module):
    """One DARTS search cell: two preprocessed inputs, ``nodes`` intermediate nodes, every node
    connected to all earlier states by an :class:`OperationSpace` edge; outputs the nodes concatenated."""

    def __init__(
        self, kind: str, nodes: int, c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool, mask: Any
    ) -> None:
        super().__init__()
        self.kind = kind
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleDict()
        self.node_inputs = nn.ModuleList()
        for node in range(2, 2 + nodes):
            for source in range(node):
                # Only edges from the cell inputs stride in a reduction cell.
                stride = 2 if kind == "reduce" and source < 2 else 1
                candidates = {name: operation(name, channels, stride, search=True) for name in PRIMITIVES}
                self.edges[f"n{node}_e{source}"] = OperationSpace(
                    candidates, key=edge_key(kind, node, source), mask=mask
                )
            self.node_inputs.append(NodeInputs(node, 2, key=inputs_key(kind, node), mask=mask))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node, node_inputs in enumerate(self.node_inputs, start=2):
            used = _used_inputs(node_inputs)
            # Edges the node does not read are not computed (None keeps the input positions).
            outputs = [self.edges[f"n{node}_e{j}"](states[j]) if j in used else None for j in range(node)]
            states.append(node_inputs(outputs))
        return torch.cat(states[2:], dim=1)

    def export_module(self) -> SearchCell:
        """This cell without the edges that no node reads (``build_subnet`` calls it)."""
        for node, node_inputs in enumerate(self.node_inputs, start=2):
            used = _used_inputs(node_inputs)
            for source in range(node):
                if source not in used:
                    del self.edges[f"n{node}_e{source}"]
        return self


class DartsNetwork(BaseNASNetwork):
    """The DARTS search network (the paper's ``model_search.Network``).

    A 3x3 convolution stem of ``stem_multiplier * C`` channels, then ``layers`` cells; the cells at
    1/3 and 2/3 of the depth are reduction cells (stride 2, twice the channels). Each cell has
    ``nodes`` intermediate nodes; every edge is an :class:`OperationSpace` over
    :data:`PRIMITIVES` with batch norms without affine weights, and every node keeps two incoming
    edges (a :class:`NodeInputs`). All normal cells share one architecture (keys ``normal.n2_e0``,
    ``normal.n2_inputs``, ...) and all reduction cells another (``reduce....``).

    Under the ``darts``/``gdas`` mutators every edge mixes its operations and every node sums all its
    edges, as in the paper. The paper's architecture is ``derive_arch(mutator.probabilities())``:
    the mutator's own ``export()``
    takes each key's argmax, which may keep ``none`` and ranks a node's inputs by their own weights,
    which the paper does not have (they get no gradient here). ``mask`` (an architecture) fixes
    every edge and node input. ``channels_last`` keeps activations in NHWC layout.
    """

    def __init__(
        self,
        C: int = 16,
        num_classes: int = 10,
        layers: int = 8,
        nodes: int = 4,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        mask: Mapping[str, Any] | str | os.PathLike | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__(mask)
        if layers < 3:
            raise ValueError(f"DartsNetwork: layers={layers} must be at least 3 (two reduction cells and a normal one)")
        if nodes < 1:
            raise ValueError(f"DartsNetwork: nodes={nodes} must be at least 1")
        self.nodes = nodes
        c_current = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_current, 3, padding=1, bias=False), nn.BatchNorm2d(c_current)
        )
        c_prev_prev, c_prev, c_current = c_current, c_current, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for index in range(layers):
            reduction = index in reduction_layers(layers)
            if reduction:
                c_current *= 2
            kind = "reduce" if reduction else "normal"
            self.cells.append(SearchCell(kind, nodes, c_prev_prev, c_prev, c_current, reduction_prev, self.mask))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, nodes * c_current
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.check_mask()
        # NHWC makes the pooling and depthwise convolutions that dominate a search step much faster
        # on CPU (benchmarks/README.md, DARTS against NNI); values and state dicts are unchanged.
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))

    # -- genotypes --------------------------------------------------------------------------------
    def _concat(self) -> list[int]:
        return list(range(2, 2 + self.nodes))

    def genotype(self, arch: Mapping[str, Any] | str | None = None) -> Genotype:
        """The genotype of ``arch`` (default: the current decisions): each node's two kept edges, by input index."""
        space = SearchSpace.of(self)
        decisions = space.validate(load_arch(arch) if arch is not None else self.arch, where="DartsNetwork.genotype")
        genes = {
            kind: [
                (PRIMITIVES[decisions[edge_key(kind, node, source)]], source)
                for node in range(2, 2 + self.nodes)
                for source in decisions[inputs_key(kind, node)]
            ]
            for kind in CELL_KINDS
        }
        return Genotype(genes["normal"], self._concat(), genes["reduce"], self._concat())

    def derive_genotype(self, probabilities: Mapping[str, Sequence[float]]) -> Genotype:
        """The paper's rule on operation weights (e.g. ``DartsMutator.probabilities()``): per node, the two
        edges whose strongest non-``none`` operation weighs most, each with that operation, strongest first."""
        none = PRIMITIVES.index("none")
        genes = {}
        for kind in CELL_KINDS:
            gene = []
            for node in range(2, 2 + self.nodes):
                strongest, weight = {}, {}
                for source in range(node):
                    weights = probabilities[edge_key(kind, node, source)]
                    # The first maximum on ties, and stable sorting below, as the reference's parse does.
                    strongest[source] = max((k for k in range(len(weights)) if k != none), key=lambda k: weights[k])
                    weight[source] = weights[strongest[source]]
                kept = sorted(range(node), key=lambda source: -weight[source])[:2]
                gene.extend((PRIMITIVES[strongest[source]], source) for source in kept)
            genes[kind] = gene
        return Genotype(genes["normal"], self._concat(), genes["reduce"], self._concat())

    def derive_arch(self, probabilities: Mapping[str, Sequence[float]]) -> dict[str, Any]:
        """The architecture of :meth:`derive_genotype` (what a DARTS trainer should ``fix`` after the search)."""
        return self.arch_from_genotype(self.derive_genotype(probabilities))

    def arch_from_genotype(self, genotype: Genotype | Mapping[str, Any]) -> dict[str, Any]:
        """The architecture (JSON form) of ``genotype``; edges it does not keep are set to ``none``.

        A ``ValueError`` names the edge of an unknown operation, and reports a genotype whose node
        count or concatenated nodes differ from this network's.
        """
        genotype = as_genotype(genotype)
        arch: dict[str, Any] = {}
        for kind in CELL_KINDS:
            edges = cell_edges(genotype, kind)
            if len(edges) != 2 * self.nodes:
                raise ValueError(f"genotype {kind}: {len(edges) // 2} nodes, the network has {self.nodes}")
            if list(getattr(genotype, f"{kind}_concat")) != self._concat():
                raise ValueError(
                    f"genotype {kind}_concat: the search network concatenates nodes {self._concat()}, "
                    f"got {list(getattr(genotype, f'{kind}_concat'))}"
                )
            for node in range(2, 2 + self.nodes):
                kept = {source: name for n, source, name in edges if n == node}
                for source in range(node):
                    arch[edge_key(kind, node, source)] = PRIMITIVES.index(kept.get(source, "none"))
                arch[inputs_key(kind, node)] = tuple(sorted(kept))
        space = SearchSpace.of(self)
        return space.to_json(space.validate(arch, where="arch_from_genotype"))
