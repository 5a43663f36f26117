"""Tabular classification data, as Hypernets' examples use it: arrays in memory, or a CSV file.

Features end as one float vector per row (``input_shape == (features,)``): numeric columns are
standardised with the training split's mean and standard deviation (missing values take that
mean), categorical columns are one-hot encoded. Labels may be numbers or strings; ``classes``
names them.
"""

from __future__ import annotations

import csv as csv_module
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from hyperbox.nas.datasets._splits import DataSplits, check_fractions, stratified_split

__all__ = ["csv", "from_arrays"]


def from_arrays(
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
    *,
    X_test: Any = None,
    y_test: Any = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    normalize: bool = True,
    batch_size: int = 64,
) -> DataSplits:
    """Splits of a classification table given as arrays: ``X`` (rows x features, numbers) and
    ``y`` (one label per row). The validation split is ``X_val``/``y_val`` when given (as in
    Hypernets' ``search(X, y, X_val, y_val)``), else ``val_fraction`` of the rows, stratified and
    fixed by ``seed``; the test split likewise (none by default)."""
    features = _matrix(X, "X")
    labels, classes = _labels(y, "y")
    if len(features) != len(labels):
        raise ValueError(f"X has {len(features)} rows but y has {len(labels)} labels")
    given = {"val": (X_val, y_val), "test": (X_test, y_test)}
    for name, (part_x, part_y) in given.items():
        if (part_x is None) != (part_y is None):
            raise ValueError(f"give both X_{name} and y_{name}, or neither")
    check_fractions(
        val_fraction=0.0 if X_val is not None else val_fraction,
        test_fraction=0.0 if X_test is not None else test_fraction,
    )
    val_index, test_index, train_index = stratified_split(
        labels,
        [0.0 if X_val is not None else val_fraction, 0.0 if X_test is not None else test_fraction],
        seed,
    )
    parts = {
        "train": (features[train_index], labels[train_index]),
        "val": (features[val_index], labels[val_index]),
        "test": (features[test_index], labels[test_index]),
    }
    for name, (part_x, part_y) in given.items():
        if part_x is not None:
            matrix = _matrix(part_x, f"X_{name}")
            if matrix.shape[1] != features.shape[1]:
                raise ValueError(f"X_{name} has {matrix.shape[1]} features, X has {features.shape[1]}")
            parts[name] = (matrix, _labels_as(part_y, classes, f"y_{name}"))
    return _splits(parts, classes, list(range(features.shape[1])) if normalize else [], batch_size)


def csv(
    path: str | os.PathLike,
    target: str,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    delimiter: str = ",",
    batch_size: int = 64,
) -> DataSplits:
    """A CSV file with a header row: ``target`` names the label column, every other column is a
    feature (numbers are standardised, anything else one-hot encoded). Splits as :func:`from_arrays`."""
    where = f"csv {os.fspath(path)!r}"
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv_module.reader(file, delimiter=delimiter))
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, csv_module.Error) as error:
        raise ValueError(f"{where}: cannot be read ({error})") from None
    if not rows or not rows[0]:
        raise ValueError(f"{where}: empty (a header row and at least one row of data are needed)")
    header, data = [name.strip() for name in rows[0]], [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if target not in header:
        raise ValueError(f"{where}: no column {target!r}; the columns are {', '.join(header)}")
    if not data:
        raise ValueError(f"{where}: no rows of data under the header")
    short = next((i for i, row in enumerate(data, start=2) if len(row) != len(header)), None)
    if short is not None:
        raise ValueError(f"{where}: line {short} has {len(data[short - 2])} fields, the header {len(header)}")
    columns = {name: [row[i].strip() for row in data] for i, name in enumerate(header)}
    labels, classes = _labels(np.asarray(columns.pop(target)), f"{where}: column {target!r}")
    blocks, numeric = [], []
    for name, cells in columns.items():
        values = _numbers(cells)
        if values is not None:
            numeric.append(sum(block.shape[1] for block in blocks))
            blocks.append(values[:, None])
        else:
            categories = sorted(set(cells))
            blocks.append(np.array([[cell == c for c in categories] for cell in cells], dtype=np.float32))
    features = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(labels), 0), dtype=np.float32)
    if features.shape[1] == 0:
        raise ValueError(f"{where}: no feature column besides {target!r}")
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction)
    val_index, test_index, train_index = stratified_split(labels, [val_fraction, test_fraction], seed)
    parts = {
        name: (features[index], labels[index])
        for name, index in (("train", train_index), ("val", val_index), ("test", test_index))
    }
    return _splits(parts, classes, numeric, batch_size)


def _matrix(values: Any, name: str) -> np.ndarray:
    try:
        matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers (rows x features)") from None
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"{name} must be a table of rows x features, got shape {matrix.shape}")
    return matrix


def _labels(values: Any, name: str) -> tuple[np.ndarray, list]:
    """Class indices 0..K-1 and the K class values, sorted."""
    values = np.asarray(values)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{name} must hold one label per row")
    classes, indices = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{name} holds a single class ({classes[0]!r}); classification needs two or more")
    return indices.astype(np.int64), [c.item() if hasattr(c, "item") else c for c in classes]


def _labels_as(values: Any, classes: Sequence[Any], name: str) -> np.ndarray:
    values = np.asarray(values).tolist()
    unknown = [v for v in values if v not in classes]
    if unknown:
        raise ValueError(f"{name} holds {unknown[0]!r}, a class that y does not have")
    return np.array([classes.index(v) for v in values], dtype=np.int64)


def _numbers(cells: Sequence[str]) -> np.ndarray | None:
    """The column as floats (empty cells: NaN), or None when a cell is not a number."""
    try:
        return np.array([float(cell) if cell else np.nan for cell in cells], dtype=np.float32)
    except ValueError:
        return None


def _splits(parts: dict, classes: list, numeric: Sequence[int], batch_size: int) -> DataSplits:
    """Standardise the ``numeric`` columns with the training split's statistics (missing values
    take its mean), then wrap the splits."""
    train = parts["train"][0]
    if len(train) == 0:
        raise ValueError("no training rows left after the validation and test splits")
    numeric = list(numeric)
    mean = np.nanmean(train[:, numeric], axis=0) if numeric else np.zeros(0)
    std = np.nanstd(train[:, numeric], axis=0) if numeric else np.zeros(0)
    mean, std = np.nan_to_num(mean), np.where(np.nan_to_num(std) > 1e-6, std, 1.0)
    datasets = {}
    for name, (features, labels) in parts.items():
        features = features.copy()
        if numeric:
            block = features[:, numeric]
            block = np.where(np.isnan(block), mean, block)
            features[:, numeric] = (block - mean) / std
        datasets[name] = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
    return DataSplits(
        **datasets,
        num_classes=len(classes),
        input_shape=(train.shape[1],),
        batch_size=batch_size,
        classes=[str(c) for c in classes],
    )
