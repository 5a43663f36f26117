"""Hypernets' CNN example in Hyperbox: search the CNN space on handwritten digits.

The seed searches ``cnn_search_space`` on MNIST (28x28) with blocks of 2-5 and 32/64/128 filters;
here scikit-learn's bundled 8x8 digits stand in for MNIST (nothing is downloaded), the space is
the seed's function in PyTorch, and ``search`` of the engine replaces ``HyperKeras.search``.

    python examples/hypernets/cnn_digits.py --trials 10 --epochs 10
"""

import argparse

from hyperbox.kernel import search
from hyperbox.nas.datasets import digits
from hyperbox.networks.hypernets import cnn_search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="max_trails in the seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 64, 128], help="filters_choices")
    parser.add_argument("--fc-units", type=int, nargs="+", default=[1024, 2048, 4096], help="the fc layers' units")
    args = parser.parse_args()

    data = digits(seed=0)
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
