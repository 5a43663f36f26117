"""Hypernets' CNN example, translated line by line to Hyperbox: the space is written with
``hyperbox.nas.hyper`` (PyTorch layers named as Keras'), and the search call becomes the engine's
``search``. scikit-learn's bundled 8x8 digits stand in for MNIST (nothing is downloaded; images
are PyTorch's (C, H, W)), and the output layer gives logits. (The same space is registered as
``cnn``: ``hyperbox.networks.hypernets.cnn_search_space``.)

    python examples/hypernets/cnn_digits.py --trials 10 --epochs 10
"""

import argparse
import itertools

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


def conv_block(block_no, hp_pooling, hp_filters, hp_kernel_size, hp_bn_act, hp_use_bn, hp_activation, strides=(1, 1)):
    def conv_bn(step):
        conv = Conv2D(filters=conv_filters, kernel_size=hp_kernel_size, strides=strides, padding="same")
        act = Activation(activation=hp_activation)
        optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)

        # Use `Permutation` to try different arrangements of act, optional_bn
        # optional_bn is optional module and will be skipped when hp_use_bn is False
        perm_act_bn = Permutation([optional_bn, act], hp_seq=hp_bn_act)
        seq = Sequential([conv, perm_act_bn])
        return seq

    if block_no < 2:
        repeat_num_choices = [2]
        multiplier = 1
    else:
        repeat_num_choices = [3, 4, 5]
        multiplier = 2 ** (block_no - 1)

    conv_filters = Dynamic(lambda filters: filters * multiplier, filters=hp_filters)
    conv = Repeat(conv_bn, repeat_num_choices=repeat_num_choices)
    pooling = Or([MaxPooling2D(padding="same"), AveragePooling2D(padding="same")], hp_or=hp_pooling)
    block = Sequential([conv, pooling])
    return block


def cnn_search_space(
    input_shape,
    output_units,
    output_activation=None,
    block_num_choices=(2, 3, 4, 5, 6),
    activation_choices=("relu",),
    filters_choices=(32, 64),
    kernel_size_choices=((1, 1), (3, 3)),
    fc_units_choices=(1024, 2048, 4096),  # the seed's hp_fc_units, as an argument
):
    hp_use_bn = Bool()
    hp_pooling = Choice(list(range(2)))
    hp_filters = Choice(filters_choices)
    hp_kernel_size = Choice(kernel_size_choices)
    hp_fc_units = Choice(fc_units_choices)
    if len(activation_choices) == 1:
        hp_activation = activation_choices[0]
    else:
        hp_activation = Choice(activation_choices)
    hp_bn_act = Choice([seq for seq in itertools.permutations(range(2))])

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
    )
    x = Flatten()
    fc1 = Dense(units=hp_fc_units, activation=hp_activation, name="fc1")
    fc2 = Dense(units=hp_fc_units, activation=hp_activation, name="fc2")
    predictions = Dense(output_units, activation=output_activation, name="predictions")
    return HyperSpace(Sequential([blocks, x, fc1, fc2, predictions]), input_shape=input_shape)


# Search the best model in search space defined above on digits (the seed's MNIST)

from hyperbox.kernel import search  # noqa: E402
from hyperbox.nas.datasets import digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="max_trails in the seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 64, 128], help="filters_choices")
    parser.add_argument("--fc-units", type=int, nargs="+", default=[1024, 2048, 4096], help="the fc layers' units")
    args = parser.parse_args()

    data = digits(seed=0)  # pixels scaled to [0, 1], as the seed rescales MNIST
    result = search(
        lambda: cnn_search_space(
            input_shape=data.input_shape,
            output_units=10,
            block_num_choices=[2, 3, 4, 5],
            filters_choices=args.filters,
            kernel_size_choices=[(1, 1), (3, 3)],
            fc_units_choices=args.fc_units,
        ),
        "random",
        trainer={"name": "standalone", "epochs": args.epochs, "optimizer": "adam", "lr": 1e-3},
        dataset=data,
        estimators=["accuracy"],
        budget=args.trials,
        seed=0,
    )
    assert result.best_model()
    print("best architecture:", result.best.values)
    print("accuracy:", round(result.best.metrics["accuracy"], 4))
    print(result.best_model())


if __name__ == "__main__":
    main()
