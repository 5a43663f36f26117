"""Hypernets' DNN space: blocks of ``Dense`` with a permuted activation / optional batch
normalisation / dropout, repeated 2-4 times, their units shrinking by a reduce factor."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import nn

from hyperbox.nas.hyper import (
    Activation,
    BatchNormalization,
    Bool,
    Choice,
    Dense,
    Dropout,
    Dynamic,
    Flatten,
    HyperSpace,
    Optional,
    Permutation,
    Real,
    Repeat,
    Sequential,
)
from hyperbox.networks.hypernets._registered import registered_space

__all__ = ["dnn", "dnn_block", "dnn_search_space"]


def dnn_block(
    hp_dnn_units: Any,
    hp_reduce_factor: Any,
    hp_seq: Any,
    hp_use_bn: Any,
    hp_dropout: Any,
    hp_activation: Any,
    step: int,
) -> nn.Module:
    """``Dense`` of ``units * reduce_factor ** step`` units, then activation, optional batch
    normalisation and dropout in the order ``hp_seq`` chooses."""
    block_units = Dynamic(
        lambda_fn=lambda units, reduce_factor: units if step == 0 else units * (reduce_factor**step),
        units=hp_dnn_units,
        reduce_factor=hp_reduce_factor,
    )
    dense = Dense(units=block_units)
    act = Activation(activation=hp_activation)
    optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)
    dropout = Dropout(rate=hp_dropout)
    perm_act_bn_dropout = Permutation([act, optional_bn, dropout], hp_seq=hp_seq)
    return Sequential([dense, perm_act_bn_dropout])


def dnn_search_space(
    input_shape: int | Sequence[int],
    output_units: int,
    output_activation: str | None = None,
    units_choices: Sequence[int] = (200, 500, 1000),
    reduce_factor_choices: Sequence[float] = (1, 0.8, 0.5),
    layer_num_choices: Sequence[int] = (2, 3, 4),
    activation_choices: Sequence[str] = ("relu", "tanh"),
) -> HyperSpace:
    """The seed's DNN space on inputs of ``input_shape`` (features, or any shape, flattened)."""
    hp_dnn_units = Choice(units_choices, key="units")
    hp_reduce_factor = Choice(reduce_factor_choices, key="reduce_factor")
    hp_use_bn = Bool(key="use_bn")
    hp_activation = (
        activation_choices[0] if len(activation_choices) == 1 else Choice(activation_choices, key="activation")
    )
    hp_dropout = Real(0.0, 0.5, step=0.1, key="dropout")
    hp_seq = Choice(list(itertools.permutations(range(3))), key="seq")
    backbone = Repeat(
        lambda step: dnn_block(hp_dnn_units, hp_reduce_factor, hp_seq, hp_use_bn, hp_dropout, hp_activation, step),
        repeat_num_choices=layer_num_choices,
        hp_repeat=Choice(layer_num_choices, key="layers"),
    )
    output = Dense(units=output_units, activation=output_activation)
    return HyperSpace(Sequential([Flatten(), backbone, output]), input_shape)


#: the registered space ``dnn`` (the dataset's shape and classes fill it)
dnn = registered_space(dnn_search_space)
