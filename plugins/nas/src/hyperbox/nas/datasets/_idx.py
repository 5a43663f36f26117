"""MNIST and Fashion-MNIST from the IDX files the user already has (plain or gzipped)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hyperbox.nas.datasets._locate import existing_root, find_file
from hyperbox.nas.datasets._splits import DataSplits, as_float_images, build_splits

# The third byte of an IDX magic number names the element type (the format is big-endian).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in one IDX file (``.gz`` is decompressed)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"IDX file {os.fspath(path)!r}: cannot read it ({error})") from None
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_TYPES:
        raise ValueError(f"IDX file {os.fspath(path)!r}: bad magic number (not an IDX file)")
    dtype, ndim = np.dtype(_IDX_TYPES[content[2]]), content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"IDX file {os.fspath(path)!r}: truncated header")
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(content) - header != expected:
        raise ValueError(
            f"IDX file {os.fspath(path)!r}: {len(content) - header} bytes of data, "
            f"expected {expected} for shape {shape}"
        )
    return np.frombuffer(content, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _read_idx_dataset(
    dataset: str,
    folder: str,
    root: str | os.PathLike,
    *,
    seed: int,
    val_fraction: float,
    resize: int | Sequence[int] | None,
    normalize: bool,
    batch_size: int,
    classes: list[str],
) -> DataSplits:
    base = existing_root(dataset, root)
    folders = ("raw", f"{folder}/raw", folder)  # also torchvision's root/<Folder>/raw layout
    arrays = {key: read_idx(find_file(dataset, base, name, folders, ("", ".gz"))) for key, name in _FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{dataset}: {part} images of shape {images.shape} do not match labels of shape {labels.shape}"
            )
        if labels.size and not 0 <= labels.min() <= labels.max() < len(classes):
            raise ValueError(f"{dataset}: {part} labels must lie in 0..{len(classes) - 1}")
    test_images = as_float_images(arrays["test_images"][:, None], resize)
    return build_splits(
        as_float_images(arrays["train_images"][:, None], resize),
        arrays["train_labels"],
        seed=seed,
        val_fraction=val_fraction,
        test=(test_images, arrays["test_labels"].astype(np.int64)),
        normalize=normalize,
        num_classes=len(classes),
        batch_size=batch_size,
        classes=classes,
    )


def mnist(
    root: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.1,
    resize: int | Sequence[int] | None = None,
    normalize: bool = False,
    batch_size: int = 128,
) -> DataSplits:
    """MNIST from the IDX files in ``root`` (``train-images-idx3-ubyte[.gz]`` ...); never downloads.

    The validation split is carved from the training files by ``seed``; the test split is t10k.
    """
    return _read_idx_dataset(
        "mnist",
        "MNIST",
        root,
        seed=seed,
        val_fraction=val_fraction,
        resize=resize,
        normalize=normalize,
        batch_size=batch_size,
        classes=[str(d) for d in range(10)],
    )


def fashion_mnist(
    root: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.1,
    resize: int | Sequence[int] | None = None,
    normalize: bool = False,
    batch_size: int = 128,
) -> DataSplits:
    """Fashion-MNIST from the IDX files in ``root`` (same file names as MNIST); never downloads.

    The validation split is carved from the training files by ``seed``; the test split is t10k.
    """
    return _read_idx_dataset(
        "fashion_mnist",
        "FashionMNIST",
        root,
        seed=seed,
        val_fraction=val_fraction,
        resize=resize,
        normalize=normalize,
        batch_size=batch_size,
        classes=FASHION_CLASSES,
    )
