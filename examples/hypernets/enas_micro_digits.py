"""Hypernets' ENAS-micro example in Hyperbox: search the ENAS micro (cell) space on digits.

The space's definition, translated function by function (``sepconv2d_bn``, ``sepconv3x3``, ...,
``conv_cell``, ``conv_node``, and the cell that ``conv_layer`` wires, in PyTorch modules rather
than Keras' graph), is ``hyperbox.networks.hypernets.enas_micro_search_space``. The seed searches
``enas_micro_search_space(arch='NRNR', input_shape=(28, 28, 1), init_filters=64, node_num=4)`` on
MNIST with a random searcher; here scikit-learn's bundled 8x8 digits stand in for MNIST (nothing
is downloaded), images are PyTorch's (C, H, W), and ``search`` of the engine replaces
``HyperKeras.search``.

    python examples/hypernets/enas_micro_digits.py --trials 10 --epochs 10
"""

import argparse

from hyperbox.kernel import search
from hyperbox.nas.datasets import digits
from hyperbox.networks.hypernets import enas_micro_search_space


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
