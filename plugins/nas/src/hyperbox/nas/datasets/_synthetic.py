"""Random data with a learnable rule, for tests and smoke runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hyperbox.nas.datasets._splits import DataSplits, build_splits


def synthetic(
    num_samples: int = 512,
    num_classes: int = 4,
    input_shape: Sequence[int] = (1, 8, 8),
    noise: float = 0.5,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    batch_size: int = 64,
) -> DataSplits:
    """Gaussian noise around one random prototype per class: a model can learn it, a guess cannot.

    ``input_shape`` is (C, H, W) for images or (features,) for flat data; everything is fixed by ``seed``.
    """
    input_shape = tuple(input_shape)
    if not input_shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"input_shape={input_shape!r} must hold positive integers")
    if num_classes < 2 or num_samples < num_classes:
        raise ValueError(f"num_classes={num_classes} needs 2 <= num_classes <= num_samples={num_samples}")
    if noise < 0:
        raise ValueError(f"noise={noise!r} must be >= 0")
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(num_classes, *input_shape, generator=generator)
    labels = torch.arange(num_samples) % num_classes
    labels = labels[torch.randperm(num_samples, generator=generator)]
    samples = prototypes[labels] + noise * torch.randn(num_samples, *input_shape, generator=generator)
    return build_splits(
        samples,
        labels.numpy(),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        num_classes=num_classes,
        batch_size=batch_size,
    )
