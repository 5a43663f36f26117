"""Hypernets' DNN example in Hyperbox: search the DNN space on tabular data.

The seed searches ``dnn_search_space(input_shape=10, output_units=2, output_activation='sigmoid')``
with a random searcher on 100 random rows; here the space comes from ``hyperbox.networks.hypernets``
(the seed's function, in PyTorch), the data from arrays or a CSV file, and ``search`` of the
engine replaces ``HyperKeras.search``. The output layer gives logits: the trainer's
cross-entropy applies the softmax.

    python examples/hypernets/dnn_tabular.py                    # arrays, as the seed
    python examples/hypernets/dnn_tabular.py --csv table.csv --target label
"""

import argparse

import numpy as np

from hyperbox.kernel import search
from hyperbox.nas.datasets import csv, from_arrays
from hyperbox.networks.hypernets import dnn_search_space


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
