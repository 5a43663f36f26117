"""Hypernets' ENAS-micro example, translated to Hyperbox: the space's functions keep the seed's
names and choices (``sepconv2d_bn`` ... ``conv_cell``, ``conv_node``, ``conv_layer``), written with
``hyperbox.nas.hyper`` in PyTorch modules: where the seed wires Keras' graph by calling modules on
modules, a node and a cell here are modules whose ``forward`` does the same wiring. The search
call becomes the engine's ``search``; scikit-learn's bundled 8x8 digits stand in for MNIST (images
are PyTorch's (C, H, W)), and a classifier gives logits. (The same space is registered as
``enas_micro``: ``hyperbox.networks.hypernets.enas_micro_search_space``.)

    python examples/hypernets/enas_micro_digits.py --trials 10 --epochs 10
"""

# define an ENAS micro search space

import argparse

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


def sepconv2d_bn(no, name_prefix, kernel_size, filters, strides=(1, 1)):
    relu = Activation(activation="relu")
    sepconv2d = SeparableConv2D(filters=filters, kernel_size=kernel_size, strides=strides, padding="same")
    bn = BatchNormalization()
    return Sequential([relu, sepconv2d, bn])


def sepconv3x3(name_prefix, filters, strides=(1, 1)):
    name_prefix = name_prefix + "sepconv3x3_"
    sep1 = sepconv2d_bn(0, name_prefix, kernel_size=(3, 3), filters=filters, strides=strides)
    sep2 = sepconv2d_bn(1, name_prefix, kernel_size=(3, 3), filters=filters, strides=strides)
    return Sequential([sep1, sep2])


def sepconv5x5(name_prefix, filters, strides=(1, 1)):
    name_prefix = name_prefix + "sepconv5x5_"
    sep1 = sepconv2d_bn(0, name_prefix, kernel_size=(5, 5), filters=filters, strides=strides)
    sep2 = sepconv2d_bn(1, name_prefix, kernel_size=(5, 5), filters=filters, strides=strides)
    return Sequential([sep1, sep2])


def maxpooling3x3(name_prefix, filters, strides=(1, 1)):
    return MaxPooling2D(pool_size=(3, 3), strides=strides, padding="same")


def avgpooling3x3(name_prefix, filters, strides=(1, 1)):
    return AveragePooling2D(pool_size=(3, 3), strides=strides, padding="same")


def identity(name_prefix):
    return Identity()


def conv_cell(type, node_no, left_or_right, n_inputs, filters):
    name_prefix = f"{type}_N{node_no}_{left_or_right}_"
    # cells of one type share their decisions: the keys are those of the seed's hp_dict
    ic1 = InputChoice(n_inputs, 1, key=f"{type}_N{node_no}_{left_or_right}_input_choice")
    hp_or = Choice(
        ["sepconv5x5", "sepconv3x3", "avgpooling3x3", "maxpooling3x3", "identity"],
        key=f"{type}_N{node_no}_{left_or_right}_op_choice",
    )
    or1 = Or(
        [
            sepconv5x5(name_prefix, filters),
            sepconv3x3(name_prefix, filters),
            avgpooling3x3(name_prefix, filters),
            maxpooling3x3(name_prefix, filters),
            identity(name_prefix),
        ],
        hp_or=hp_or,
    )
    return Sequential([ic1, or1])


class Add(nn.Module):
    """A node: the sum of its two chosen and transformed inputs (the seed's ``add``)."""

    def __init__(self, op_left, op_right):
        super().__init__()
        self.op_left, self.op_right = op_left, op_right

    def forward(self, inputs):
        return self.op_left(inputs) + self.op_right(inputs)


def conv_node(type, node_no, n_inputs, filters):
    op_left = conv_cell(type, node_no, "L", n_inputs, filters)
    op_right = conv_cell(type, node_no, "R", n_inputs, filters)
    return Add(op_left, op_right)


class conv_layer(nn.Module):  # noqa: N801 - the seed's function, as a module
    """A cell: its two inputs calibrated, ``node_num`` nodes, the loose ends concatenated."""

    def __init__(self, type, filters, node_num, same_inputs):
        super().__init__()
        self.same_inputs = same_inputs
        self.calibrate = nn.ModuleList([CalibrateSize(no, filters) for no in ((0,) if same_inputs else (0, 1))])
        self.nodes = nn.ModuleList(conv_node(type, node_no, 2 + node_no, filters) for node_no in range(node_num))
        choices = [m for node in self.nodes for m in node.modules() if isinstance(m, InputChoice)]
        self.cle = ConnectLooseEnd(choices, node_num)
        self.concat = SafeConcatenate(filters)

    def forward(self, inputs):
        if self.same_inputs:  # inputs[0] == inputs[1]: c1 = c2
            c1 = c2 = self.calibrate[0](inputs[0])
        else:
            c1, c2 = (calibrate(list(inputs)) for calibrate in self.calibrate)
        inputs = [c1, c2]
        for node in self.nodes:
            inputs.append(node(inputs))
        return self.concat(self.cle(inputs))


class MicroNetwork(nn.Module):
    """The seed's loop over ``arch``: a factorized reduction before each reduction cell."""

    def __init__(self, arch, init_filters, node_num, output_units):
        super().__init__()
        self.reductions, layers = nn.ModuleDict(), []
        reduction_no = normal_no = 0
        for index, letter in enumerate(arch):
            if letter == "N":
                normal_no += 1
                type = "normal"
            else:
                reduction_no += 1
                type = "reduction"
            filters = (2**reduction_no) * init_filters
            if type == "reduction":
                self.reductions[str(index)] = FactorizedReduction(filters)
            layers.append(conv_layer(type, filters, node_num, same_inputs=index == 0 and letter == "N"))
        self.layers = nn.ModuleList(layers)
        self.head = Sequential([Activation("relu"), GlobalAveragePooling2D(), Dense(output_units)])

    def forward(self, input):
        node0 = node1 = input
        for index, layer in enumerate(self.layers):
            if str(index) in self.reductions:
                node0, node1 = node1, self.reductions[str(index)](node1)
            x = layer([node0, node1])
            node0, node1 = node1, x
        return self.head(node1)


def enas_micro_search_space(arch="NRNR", input_shape=(1, 28, 28), init_filters=64, node_num=4, output_units=10):
    return HyperSpace(MicroNetwork(arch, init_filters, node_num, output_units), input_shape=input_shape)


# Search the best model in search space defined above on digits (the seed's MNIST)

from hyperbox.kernel import search  # noqa: E402
from hyperbox.nas.datasets import digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="max_trails in the seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--init-filters", type=int, default=64)
    parser.add_argument("--mutator", default="random", help="random (the seed's), evolution, mcts, optuna, darts...")
    args = parser.parse_args()

    data = digits(seed=0)
    result = search(
        lambda: enas_micro_search_space(
            arch="NRNR", input_shape=data.input_shape, init_filters=args.init_filters, node_num=4, output_units=10
        ),
        args.mutator,
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
