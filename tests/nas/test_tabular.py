"""Tabular data: arrays in memory and CSV files, standardised and one-hot encoded, searchable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hyperbox.kernel import search
from hyperbox.nas import ops
from hyperbox.nas.datasets import csv, from_arrays
from hyperbox.nas.spaces import ValueSpace

torch.set_num_threads(1)


def write_csv(path, text):
    path.write_text(text)
    return path


def test_arrays_with_a_validation_set_as_hypernets_passes_them():
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 10000, size=(100, 10)), rng.integers(0, 2, size=100)
    data = from_arrays(X, y, X, y)  # as the seed's hk.search(x, y, x, y)
    assert data.input_shape == (10,) and data.num_classes == 2 and data.classes == ["0", "1"]
    assert len(data.val) == 100 and len(data.train) == 100 and len(data.test) == 0
    features = data.train.tensors[0]
    assert torch.allclose(features.mean(0), torch.zeros(10), atol=1e-4)  # standardised on the training rows
    assert torch.allclose(features.std(0, unbiased=False), torch.ones(10), atol=1e-3)


def test_arrays_are_split_stratified_when_no_validation_set_is_given():
    X, y = np.arange(200, dtype=float).reshape(100, 2), np.array(["cat", "dog"] * 50)
    data = from_arrays(X, y, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert (len(data.train), len(data.val), len(data.test)) == (70, 20, 10)
    assert data.classes == ["cat", "dog"] and sorted(data.val.tensors[1].tolist()) == [0] * 10 + [1] * 10
    assert torch.equal(from_arrays(X, y, seed=3).train.tensors[0], from_arrays(X, y, seed=3).train.tensors[0])


def test_a_csv_file_becomes_numbers_and_one_hot_columns(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        "age,city,income,label\n"
        + "".join(
            f"{20 + i},{'paris' if i % 3 else 'oslo'},{'' if i == 4 else 1000 * i},{'yes' if i % 2 else 'no'}\n"
            for i in range(40)
        ),
    )
    data = csv(path, target="label", val_fraction=0.25, test_fraction=0.0)
    assert data.input_shape == (4,)  # age, city=oslo, city=paris, income
    assert data.classes == ["no", "yes"] and (len(data.train), len(data.val)) == (30, 10)
    rows = torch.cat([data.train.tensors[0], data.val.tensors[0]])
    assert not torch.isnan(rows).any()  # the missing income took the training mean
    assert set(rows[:, 1].tolist()) | set(rows[:, 2].tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("", "label", "empty"),
        ("a,label\n", "label", "no rows of data"),
        ("a,b\n1,2\n", "label", "no column 'label'; the columns are a, b"),
        ("a,label\n1,x\n2\n", "label", "line 3 has 1 fields, the header 2"),
        ("a,label\n1,x\n2,x\n", "label", "single class"),
    ],
)
def test_a_bad_csv_is_one_clear_line_naming_the_file(tmp_path, text, target, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=message) as raised:
        csv(path, target=target)
    assert "bad.csv" in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_csv_through_an_experiment_is_a_one_line_error(hbk, tmp_path):
    experiment = tmp_path / "e.yaml"
    experiment.write_text(
        "dataset: {name: csv, path: nowhere.csv, target: label}\nspace: digits_cnn\nmutator: random\n"
        "trainer: standalone\nestimators: [accuracy]\n"
    )
    result = hbk("run", str(experiment), cwd=tmp_path)
    assert result.returncode == 2 and "csv 'nowhere.csv': no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_table_is_searched_from_python():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)

    def mlp(in_channels, num_classes):
        width = ValueSpace([8, 16], key="width")
        return nn.Sequential(ops.Linear(in_channels, width), nn.ReLU(), ops.Linear(width, num_classes))

    result = search(
        mlp,
        "random",
        trainer={"name": "standalone", "epochs": 3, "optimizer": "adamw", "lr": 0.01},
        estimators=["accuracy"],
        dataset=from_arrays(X, y),
        budget=2,
        seed=0,
    )
    assert result.best.metrics["accuracy"] > 0.7


def test_arrays_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 labels"):
        from_arrays(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="give both X_val and y_val"):
        from_arrays(np.zeros((4, 2)), [0, 1, 0, 1], X_val=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="y_val holds 'cat', a class that y does not have"):
        from_arrays(np.zeros((4, 2)), ["dog", "fox", "dog", "fox"], np.zeros((1, 2)), ["cat"])
