"""Hypernets' DNN example, translated line by line to Hyperbox: the space is written with
``hyperbox.nas.hyper`` (PyTorch layers named as Keras'), and the search call becomes the engine's
``search``. The output layer gives logits (the trainer's cross-entropy applies the softmax), and
data come from arrays, as in the seed, or from a CSV file. (The same space is registered as
``dnn``: ``hyperbox.networks.hypernets.dnn_search_space``.)

    python examples/hypernets/dnn_tabular.py                    # random arrays, as the seed
    python examples/hypernets/dnn_tabular.py --csv table.csv --target label
"""

# define a DNN search space

import argparse
import itertools

from hyperbox.nas.hyper import (
    Activation,
    BatchNormalization,
    Bool,
    Choice,
    Dense,
    Dropout,
    Dynamic,
    HyperSpace,
    Optional,
    Permutation,
    Real,
    Repeat,
    Sequential,
)


def dnn_block(hp_dnn_units, hp_reduce_factor, hp_seq, hp_use_bn, hp_dropout, hp_activation, step):
    # The value of a `Dynamic` is computed as a function of the values of the parameters it depends on.
    block_units = Dynamic(
        lambda_fn=lambda units, reduce_factor: units if step == 0 else units * (reduce_factor**step),
        units=hp_dnn_units,
        reduce_factor=hp_reduce_factor,
    )

    dense = Dense(units=block_units)
    act = Activation(activation=hp_activation)
    optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)
    dropout = Dropout(rate=hp_dropout)

    # Use `Permutation` to try different arrangements of act, optional_bn, dropout
    # optional_bn is optional module and will be skipped when hp_use_bn is False
    perm_act_bn_dropout = Permutation([act, optional_bn, dropout], hp_seq=hp_seq)

    # Use `Sequential` to connect dense and perm_act_bn_dropout in order
    seq = Sequential([dense, perm_act_bn_dropout])
    return seq


def dnn_search_space(
    input_shape,
    output_units,
    output_activation=None,
    units_choices=(200, 500, 1000),
    reduce_facotr_choices=(1, 0.8, 0.5),
    layer_num_choices=(2, 3, 4),
    activation_choices=("relu", "tanh"),
):
    hp_dnn_units = Choice(units_choices)
    hp_reduce_factor = Choice(reduce_facotr_choices)
    hp_use_bn = Bool()
    if len(activation_choices) == 1:
        hp_activation = activation_choices[0]
    else:
        hp_activation = Choice(activation_choices)

    hp_dropout = Real(0.0, 0.5, step=0.1)
    hp_seq = Choice([seq for seq in itertools.permutations(range(3))])

    backbone = Repeat(
        lambda step: dnn_block(hp_dnn_units, hp_reduce_factor, hp_seq, hp_use_bn, hp_dropout, hp_activation, step),
        repeat_num_choices=layer_num_choices,
    )
    output = Dense(units=output_units, activation=output_activation)
    # `HyperSpace` is the seed's `HyperSpace` with its `Input(shape=input_shape)`
    return HyperSpace(Sequential([backbone, output]), input_shape=input_shape)


# Search the best model in search space defined above

import numpy as np  # noqa: E402

from hyperbox.kernel import search  # noqa: E402
from hyperbox.nas.datasets import csv, from_arrays  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="a CSV file to learn from (else random arrays, as the seed)")
    parser.add_argument("--target", default="label", help="the CSV column to predict")
    parser.add_argument("--trials", type=int, default=3, help="max_trails in the seed")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    if args.csv:
        data = csv(args.csv, target=args.target)
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 10000, size=(100, 10)).astype("float32")
        y = rng.integers(0, 2, size=100)
        data = from_arrays(x, y, x, y)

    result = search(
        lambda: dnn_search_space(input_shape=data.input_shape, output_units=data.num_classes),
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
