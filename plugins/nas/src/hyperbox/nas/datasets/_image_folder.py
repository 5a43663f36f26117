"""Images sorted into one folder per class: ``root/<class>/<image>``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hyperbox.nas.datasets._locate import existing_root
from hyperbox.nas.datasets._splits import DataSplits, as_float_images, build_splits

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
ARRAY_SUFFIX = ".npy"  # H x W or H x W x C, uint8 in 0..255 or floats in [0, 1]; needs no Pillow


def _read_image(path: Path, channels: int | None) -> np.ndarray:
    """C x H x W array of the image, converted to ``channels`` (1 or 3) when given."""
    if path.suffix.lower() == ARRAY_SUFFIX:
        array = np.load(path, allow_pickle=False)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"image_folder: {os.fspath(path)!r} has shape {array.shape}, expected H x W or H x W x C")
        if channels is not None and array.shape[2] != channels:
            if array.shape[2] == 1:
                array = np.repeat(array, channels, axis=2)
            elif array.shape[2] == 3 and channels == 1:
                array = array.mean(axis=2, keepdims=True).astype(array.dtype)
            else:
                raise ValueError(
                    f"image_folder: {os.fspath(path)!r} has {array.shape[2]} channels, cannot make {channels}"
                )
        return np.ascontiguousarray(array.transpose(2, 0, 1))
    try:
        from PIL import Image
    except ImportError:
        raise ValueError(
            f"image_folder: reading {os.fspath(path)!r} needs Pillow (pip install pillow), or use .npy files"
        ) from None
    try:
        with Image.open(path) as image:
            if channels is None:
                channels = 1 if image.mode in ("1", "L", "I", "I;16", "F") else 3
            array = np.array(image.convert("L" if channels == 1 else "RGB"))
    except OSError as error:
        raise ValueError(f"image_folder: cannot read {os.fspath(path)!r} ({error})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def image_folder(
    root: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    resize: int | Sequence[int] | None = None,
    channels: int | None = None,
    normalize: bool = False,
    batch_size: int = 64,
) -> DataSplits:
    """A classification dataset from ``root/<class>/<image>`` (class names sorted give the labels).

    Reads PNG/JPEG/BMP/PGM/PPM... with Pillow and ``.npy`` arrays without it. ``channels`` (1 or 3)
    converts every image, by default the first image decides; images must share one size unless
    ``resize`` is given. The split is stratified and fixed by ``seed``.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels={channels!r} must be 1, 3 or None")
    base = existing_root("image_folder", root)
    class_dirs = sorted(path for path in base.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"image_folder: root {os.fspath(base)!r} has no class sub-folders")
    images: list[torch.Tensor] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in PIL_SUFFIXES | {ARRAY_SUFFIX})
        if not files:
            raise ValueError(f"image_folder: class folder {os.fspath(class_dir)!r} holds no image")
        for path in files:
            array = _read_image(path, channels)
            channels = array.shape[0]
            # Resize one by one so that images of different sizes can meet in one batch.
            image = as_float_images(array[None], resize)[0]
            if images and image.shape != images[0].shape:
                raise ValueError(
                    f"image_folder: {os.fspath(path)!r} is {tuple(image.shape)}, the first image is "
                    f"{tuple(images[0].shape)} (give resize=...)"
                )
            images.append(image)
            labels.append(label)
    return build_splits(
        torch.stack(images),
        np.asarray(labels),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        normalize=normalize,
        num_classes=len(class_dirs),
        batch_size=batch_size,
        classes=[path.name for path in class_dirs],
    )
