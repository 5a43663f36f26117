"""Hypernets' ENAS micro space (Pham et al., 2018): a stack of normal (``N``) and reduction
(``R``) cells, ``NRNR`` by default. Each cell calibrates its two inputs, then builds ``node_num``
nodes, each the sum of two operations (separable convolution 5x5 or 3x3, average or max pooling
3x3, identity) applied to inputs chosen among the cell's inputs and earlier nodes, and
concatenates the nodes that no other node takes. Cells of a kind share their decisions (keys such
as ``normal_N0_L_input_choice`` and ``reduction_N2_R_op_choice``, Hypernets' names); a reduction
cell follows a factorized reduction that halves the resolution and doubles the filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.nas.hyper import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    CalibrateSize,
    Choice,
    ConnectLooseEnd,
    Dense,
    FactorizedReduction,
    GlobalAveragePooling2D,
    HyperSpace,
    Identity,
    InputChoice,
    MaxPooling2D,
    Or,
    SafeConcatenate,
    SeparableConv2D,
    Sequential,
)
from hyperbox.networks.hypernets._registered import registered_space

__all__ = ["enas_micro", "enas_micro_search_space", "OPERATIONS"]

#: The operations of a node's input, in the seed's order (an ``Or`` chooses one).
OPERATIONS = ("sepconv5x5", "sepconv3x3", "avgpooling3x3", "maxpooling3x3", "identity")


def sepconv2d_bn(kernel_size: int, filters: int, strides: Any = (1, 1)) -> nn.Module:
    """ReLU, separable convolution, batch normalisation."""
    return Sequential(
        [
            Activation("relu"),
            SeparableConv2D(filters=filters, kernel_size=kernel_size, strides=strides, padding="same"),
            BatchNormalization(),
        ]
    )


def sepconv3x3(filters: int, strides: Any = (1, 1)) -> nn.Module:
    return Sequential([sepconv2d_bn(3, filters, strides), sepconv2d_bn(3, filters, strides)])


def sepconv5x5(filters: int, strides: Any = (1, 1)) -> nn.Module:
    return Sequential([sepconv2d_bn(5, filters, strides), sepconv2d_bn(5, filters, strides)])


def maxpooling3x3(filters: int, strides: Any = (1, 1)) -> nn.Module:
    return MaxPooling2D(pool_size=(3, 3), strides=strides, padding="same")


def avgpooling3x3(filters: int, strides: Any = (1, 1)) -> nn.Module:
    return AveragePooling2D(pool_size=(3, 3), strides=strides, padding="same")


def identity() -> nn.Module:
    return Identity()


def conv_cell(kind: str, node_no: int, left_or_right: str, n_inputs: int, filters: int) -> nn.Module:
    """One input of node ``node_no``: a choice among the ``n_inputs`` states, then an operation."""
    input_choice = InputChoice(n_inputs, 1, key=f"{kind}_N{node_no}_{left_or_right}_input_choice")
    operations = [
        sepconv5x5(filters),
        sepconv3x3(filters),
        avgpooling3x3(filters),
        maxpooling3x3(filters),
        identity(),
    ]
    op_choice = Or(operations, hp_or=Choice(list(OPERATIONS), key=f"{kind}_N{node_no}_{left_or_right}_op_choice"))
    return Sequential([input_choice, op_choice])


class Node(nn.Module):
    """The sum of a node's two inputs, each chosen and transformed (``conv_cell``)."""

    def __init__(self, left: nn.Module, right: nn.Module) -> None:
        super().__init__()
        self.left, self.right = left, right

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.left(states) + self.right(states)


def conv_node(kind: str, node_no: int, n_inputs: int, filters: int) -> Node:
    return Node(
        conv_cell(kind, node_no, "L", n_inputs, filters),
        conv_cell(kind, node_no, "R", n_inputs, filters),
    )


class Cell(nn.Module):
    """A cell (``conv_layer``): its two inputs calibrated, ``node_num`` nodes, the loose ends
    concatenated back to ``filters`` channels."""

    def __init__(self, kind: str, filters: int, node_num: int, same_inputs: bool) -> None:
        super().__init__()
        self.same_inputs = same_inputs
        self.calibrate = nn.ModuleList(
            [CalibrateSize(0, filters)] if same_inputs else [CalibrateSize(no, filters) for no in (0, 1)]
        )
        self.nodes = nn.ModuleList(conv_node(kind, node_no, 2 + node_no, filters) for node_no in range(node_num))
        choices = [m for node in self.nodes for m in node.modules() if isinstance(m, InputChoice)]
        self.loose_ends = ConnectLooseEnd(choices, node_num)
        self.concat = SafeConcatenate(filters)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.same_inputs:
            calibrated = self.calibrate[0](inputs[0])
            states = [calibrated, calibrated]
        else:
            states = [calibrate(list(inputs)) for calibrate in self.calibrate]
        for node in self.nodes:
            states.append(node(states))
        return self.concat(self.loose_ends(states))


class MicroNetwork(nn.Module):
    """The cells in the order of ``arch``, then global average pooling and the classifier."""

    def __init__(self, arch: str, init_filters: int, node_num: int, output_units: int) -> None:
        super().__init__()
        self.arch = arch
        self.reductions = nn.ModuleDict()
        cells, normal_no, reduction_no = [], 0, 0
        for index, letter in enumerate(arch):
            if letter == "N":
                normal_no, kind = normal_no + 1, "normal"
            else:
                reduction_no, kind = reduction_no + 1, "reduction"
                self.reductions[str(index)] = FactorizedReduction((2**reduction_no) * init_filters)
            same_inputs = index == 0 and letter == "N"  # the first cell's two inputs are both the image
            cells.append(Cell(kind, (2**reduction_no) * init_filters, node_num, same_inputs))
        self.cells = nn.ModuleList(cells)
        self.head = Sequential([Activation("relu"), GlobalAveragePooling2D(), Dense(output_units)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        node0 = node1 = x
        for index, cell in enumerate(self.cells):
            reduction = self.reductions[str(index)] if str(index) in self.reductions else None
            if reduction is not None:
                node0, node1 = node1, reduction(node1)
            node0, node1 = node1, cell([node0, node1])
        return self.head(node1)


def enas_micro_search_space(
    arch: str = "NRNR",
    input_shape: Sequence[int] = (1, 28, 28),
    init_filters: int = 64,
    node_num: int = 4,
    output_units: int = 10,
) -> HyperSpace:
    """The seed's ENAS micro space on images of ``input_shape`` ``(C, H, W)``, with a classifier of
    ``output_units`` on top (logits)."""
    if not arch or set(arch) - {"N", "R"}:
        raise ValueError(f"enas_micro_search_space: arch {arch!r} must be a string of N (normal) and R (reduction)")
    if node_num < 1:
        raise ValueError(f"enas_micro_search_space: node_num must be at least 1, got {node_num}")
    return HyperSpace(MicroNetwork(arch, init_filters, node_num, output_units), input_shape)


#: the registered space ``enas_micro`` (the dataset's shape and classes fill it)
enas_micro = registered_space(enas_micro_search_space)
