"""Hypernets' CNN space: blocks of repeated convolutions (filters doubling from the third block
on), each with a permuted optional batch normalisation / activation, then max or average pooling;
two fully connected layers on top."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import nn

from hyperbox.nas.hyper import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Bool,
    Choice,
    Conv2D,
    Dense,
    Dynamic,
    Flatten,
    HyperSpace,
    MaxPooling2D,
    Optional,
    Or,
    Permutation,
    Repeat,
    Sequential,
)
from hyperbox.networks.hypernets._registered import registered_space

__all__ = ["cnn", "cnn_search_space", "conv_block"]


def conv_block(
    block_no: int,
    hp_pooling: Any,
    hp_filters: Any,
    hp_kernel_size: Any,
    hp_bn_act: Any,
    hp_use_bn: Any,
    hp_activation: Any,
    strides: Any = (1, 1),
) -> nn.Module:
    """Block ``block_no``: 2 convolutions in the first two blocks, 3-5 later (with
    ``2 ** (block_no - 1)`` times the filters), then pooling."""

    def conv_bn(step: int) -> nn.Module:
        conv = Conv2D(filters=conv_filters, kernel_size=hp_kernel_size, strides=strides, padding="same")
        act = Activation(activation=hp_activation)
        optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)
        perm_act_bn = Permutation([optional_bn, act], hp_seq=hp_bn_act)
        return Sequential([conv, perm_act_bn])

    if block_no < 2:
        repeat_num_choices = [2]
        multiplier = 1
    else:
        repeat_num_choices = [3, 4, 5]
        multiplier = 2 ** (block_no - 1)

    conv_filters = Dynamic(lambda filters: filters * multiplier, filters=hp_filters)
    conv = Repeat(
        conv_bn,
        repeat_num_choices=repeat_num_choices,
        hp_repeat=Choice(repeat_num_choices, key=f"block{block_no}_convs"),
    )
    pooling = Or([MaxPooling2D(padding="same"), AveragePooling2D(padding="same")], hp_or=hp_pooling)
    return Sequential([conv, pooling])


def cnn_search_space(
    input_shape: Sequence[int],
    output_units: int,
    output_activation: str | None = None,
    block_num_choices: Sequence[int] = (2, 3, 4, 5, 6),
    activation_choices: Sequence[str] = ("relu",),
    filters_choices: Sequence[int] = (32, 64),
    kernel_size_choices: Sequence[Any] = ((1, 1), (3, 3)),
    fc_units_choices: Sequence[int] = (1024, 2048, 4096),
) -> HyperSpace:
    """The seed's CNN space on images of ``input_shape`` ``(C, H, W)``."""
    hp_use_bn = Bool(key="use_bn")
    hp_pooling = Choice(list(range(2)), key="pooling")
    hp_filters = Choice(filters_choices, key="filters")
    hp_kernel_size = Choice(kernel_size_choices, key="kernel_size")
    hp_fc_units = Choice(fc_units_choices, key="fc_units")
    hp_activation = (
        activation_choices[0] if len(activation_choices) == 1 else Choice(activation_choices, key="activation")
    )
    hp_bn_act = Choice(list(itertools.permutations(range(2))), key="bn_act")
    blocks = Repeat(
        lambda step: conv_block(
            block_no=step,
            hp_pooling=hp_pooling,
            hp_filters=hp_filters,
            hp_kernel_size=hp_kernel_size,
            hp_use_bn=hp_use_bn,
            hp_activation=hp_activation,
            hp_bn_act=hp_bn_act,
        ),
        repeat_num_choices=block_num_choices,
        hp_repeat=Choice(block_num_choices, key="blocks"),
    )
    fc1 = Dense(units=hp_fc_units, activation=hp_activation)
    fc2 = Dense(units=hp_fc_units, activation=hp_activation)
    predictions = Dense(output_units, activation=output_activation)
    return HyperSpace(Sequential([blocks, Flatten(), fc1, fc2, predictions]), input_shape)


#: the registered space ``cnn`` (the dataset's shape and classes fill it)
cnn = registered_space(cnn_search_space)
