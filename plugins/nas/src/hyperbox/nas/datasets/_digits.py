"""scikit-learn's bundled 8x8 handwritten digits: a real image dataset that needs no download."""

from __future__ import annotations

from collections.abc import Sequence

from hyperbox.nas.datasets._splits import DataSplits, as_float_images, build_splits


def digits(
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    resize: int | Sequence[int] | None = None,
    normalize: bool = False,
    batch_size: int = 64,
) -> DataSplits:
    """The 1797 8x8 digits (10 classes) scaled to [0, 1], shape 1x8x8 (``resize`` to e.g. 16 or 32).

    The split is stratified and fixed by ``seed``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16 of a 4x4 block.
    images = as_float_images(bunch.images.reshape(-1, 1, 8, 8) / 16.0, resize)
    return build_splits(
        images,
        bunch.target,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        normalize=normalize,
        num_classes=10,
        batch_size=batch_size,
        classes=[str(d) for d in range(10)],
    )
