"""Searchable ops: torch layers whose sizes may be ``ValueSpace`` decisions, slicing one shared weight.

Each op allocates one weight at the largest candidate sizes (or, when every ``ValueSpace`` it takes
was decided at construction, at exactly the chosen sizes), runs on views of the active slice, and
``export_module()`` returns the plain torch layer of the current decisions with those weights.

>>> from hyperbox.nas.spaces import ValueSpace
>>> conv = Conv2d(3, ValueSpace([16, 32, 64], key="channelOut", mask=[0, 1, 0]),
...               ValueSpace([3, 5, 7], key="kernelSize", mask=[0, 1, 0]), stride=1, padding=2, bias=False)
>>> [tuple(p.shape) for p in conv.parameters()]
[(32, 3, 5, 5)]
"""

from ._attention import MultiheadAttention, PlainMultiheadAttention
from ._base import SearchableOp
from ._conv import Conv1d, Conv2d, Conv3d, DepthwiseConv2d
from ._embedding import Embedding
from ._linear import Linear
from ._norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "DepthwiseConv2d",
    "Embedding",
    "LayerNorm",
    "Linear",
    "MultiheadAttention",
    "PlainMultiheadAttention",
    "SearchableOp",
]
