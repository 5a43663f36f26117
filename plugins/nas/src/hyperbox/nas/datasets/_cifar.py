"""CIFAR-10 from the batches the user already has: the binary version, or the python one read safely."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hyperbox.nas.datasets._locate import existing_root, find_file
from hyperbox.nas.datasets._splits import DataSplits, as_float_images, build_splits

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
_TEST_BATCH = "test_batch"
_PIXELS = 3 * 32 * 32
_RECORD = 1 + _PIXELS  # binary record: label byte, then the red, green and blue planes
_BINARY_FOLDER, _PYTHON_FOLDER = "cifar-10-batches-bin", "cifar-10-batches-py"


def read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    content = np.fromfile(path, dtype=np.uint8)
    if content.size == 0 or content.size % _RECORD:
        raise ValueError(
            f"CIFAR-10 file {os.fspath(path)!r}: {content.size} bytes is not a whole number of {_RECORD}-byte records"
        )
    records = content.reshape(-1, _RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, dicts and lists, and refuses every other global (pickle runs code otherwise)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = module.replace("numpy.core.", "numpy._core.", 1)  # numpy 2 moved it
        return super().find_class(module, name)


def read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as file:
            batch = _ArrayUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise ValueError(f"CIFAR-10 file {os.fspath(path)!r}: not a CIFAR-10 python batch ({error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR-10 file {os.fspath(path)!r}: holds a {type(batch).__name__}, expected a dict")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"CIFAR-10 file {os.fspath(path)!r}: no 'data' and 'labels' entries")
    data, labels = np.asarray(batch["data"], dtype=np.uint8), np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != _PIXELS or len(data) != len(labels):
        raise ValueError(
            f"CIFAR-10 file {os.fspath(path)!r}: data of shape {data.shape} does not match {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _read_batches(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Prefer the binary batches; fall back to the python ones only when no binary batch is there."""
    names = [*_TRAIN_BATCHES, _TEST_BATCH]
    try:
        find_file("cifar10", root, names[0] + ".bin", [_BINARY_FOLDER])
    except FileNotFoundError:
        try:
            find_file("cifar10", root, names[0], [_PYTHON_FOLDER])
        except FileNotFoundError:
            raise FileNotFoundError(
                f"cifar10: neither data_batch_1.bin (binary version) nor data_batch_1 (python version) found in "
                f"{os.fspath(root)} or its {_BINARY_FOLDER}/{_PYTHON_FOLDER} folders (this reader never downloads)"
            ) from None
        return {name: read_python_batch(find_file("cifar10", root, name, [_PYTHON_FOLDER])) for name in names}
    return {name: read_binary_batch(find_file("cifar10", root, name + ".bin", [_BINARY_FOLDER])) for name in names}


def cifar10(
    root: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.1,
    resize: int | Sequence[int] | None = None,
    normalize: bool = False,
    batch_size: int = 128,
) -> DataSplits:
    """CIFAR-10 (3x32x32, 10 classes) from ``root``: ``data_batch_1.bin`` ... ``test_batch.bin``, or the
    python pickles ``data_batch_1`` ... (read with an unpickler that only rebuilds arrays); never downloads.

    The validation split is carved from the training batches by ``seed``; the test split is ``test_batch``.
    """
    batches = _read_batches(existing_root("cifar10", root))
    for name, (_, labels) in batches.items():
        if labels.size and labels.max() >= len(CLASSES):
            raise ValueError(f"cifar10: {name} holds label {labels.max()}, expected 0..{len(CLASSES) - 1}")
    train_images = np.concatenate([batches[name][0] for name in _TRAIN_BATCHES])
    train_labels = np.concatenate([batches[name][1] for name in _TRAIN_BATCHES])
    test_images, test_labels = batches[_TEST_BATCH]
    return build_splits(
        as_float_images(train_images, resize),
        train_labels,
        seed=seed,
        val_fraction=val_fraction,
        test=(as_float_images(test_images, resize), test_labels),
        normalize=normalize,
        num_classes=len(CLASSES),
        batch_size=batch_size,
        classes=CLASSES,
    )
