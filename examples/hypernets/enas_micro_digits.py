"""Hypernets' ENAS-micro example in Hyperbox: the seed's space (its functions keep the seed's
names and choices: ``sepconv2d_bn`` ... ``conv_cell``, ``conv_node``, ``conv_layer``), written with
``hyperbox.nas.hyper`` in ``hyperbox.networks.hypernets.enas_micro_search_space`` (registered as
``enas_micro``; read it there): where the seed wires Keras' graph by calling modules on modules, a
node and a cell are modules whose ``forward`` does the same wiring. Searched with the engine's
``search``; scikit-learn's bundled 8x8 digits stand in for MNIST (images are PyTorch's
(C, H, W)), and a classifier gives logits.

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
