"""The data object every dataset factory returns, and the seeded split that builds it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, TensorDataset

SPLITS = ("train", "val", "test")


class DataSplits:
    """Train/val/test splits of a classification dataset, with the shape a search space needs.

    ``num_classes``, ``in_channels`` and ``input_shape`` (C, H, W, or (features,) for flat data,
    whose ``in_channels`` is then the feature count) are read by the runner and passed to the
    space. :meth:`loader` gives batches in an order fixed by ``seed``. ``classes`` names the labels
    when the source has names.
    """

    def __init__(
        self,
        train: Dataset,
        val: Dataset,
        test: Dataset,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        batch_size: int = 64,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.train, self.val, self.test = train, val, test
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(size) for size in input_shape)
        self.in_channels = self.input_shape[0]
        self.batch_size = _positive("batch_size", batch_size)
        self.classes = None if classes is None else list(classes)

    def split(self, name: str) -> Dataset:
        if name not in SPLITS:
            raise ValueError(f"split {name!r} is not one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def loader(
        self,
        split: str,
        batch_size: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> DataLoader:
        """Batches ``(inputs, labels)`` of ``split`` (``batch_size`` defaults to the dataset's).

        With ``shuffle`` every pass draws a new order from a generator seeded by ``seed``, so the
        sequence of epochs is the same for the same seed. ``drop_last`` drops a short last batch.
        """
        dataset = self.split(split)
        if len(dataset) == 0:
            raise ValueError(f"split {split!r} is empty (its fraction is 0?)")
        batch_size = self.batch_size if batch_size is None else _positive("batch_size", batch_size)
        generator = torch.Generator().manual_seed(seed)
        if isinstance(dataset, TensorDataset):
            # Index the tensors with a whole batch of indices at once: far faster than collating items.
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last), batch_size=None)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(self.split(name))}" for name in SPLITS)
        return f"DataSplits({sizes}, num_classes={self.num_classes}, input_shape={self.input_shape})"


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


def check_fractions(**fractions: float) -> None:
    """Each fraction in [0, 1) and together below 1, so the training split keeps samples."""
    for name, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name}={value!r} must be a number in [0, 1)")
    if sum(fractions.values()) >= 1:
        raise ValueError(f"{' + '.join(fractions)} = {sum(fractions.values()):g} leaves no training samples")


def stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Sorted index arrays: one per fraction, then the rest; every class is split in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for part, fraction in zip(parts, fractions):
            count = int(round(fraction * len(members)))
            part.append(members[start : start + count])
            start += count
        parts[-1].append(members[start:])
    return [np.sort(np.concatenate(part)) for part in parts]


def as_float_images(images: np.ndarray | torch.Tensor, resize: int | Sequence[int] | None) -> torch.Tensor:
    """N x C x H x W floats in [0, 1] (uint8 is scaled by 1/255), resized when ``resize`` is given."""
    images = torch.as_tensor(images)
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if resize is None:
        return images
    size = (resize, resize) if isinstance(resize, int) else tuple(resize)
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"resize={resize!r} must be a positive integer or (height, width)")
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def build_splits(
    images: torch.Tensor,
    labels: np.ndarray,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float = 0.0,
    test: tuple[torch.Tensor, np.ndarray] | None = None,
    normalize: bool = False,
    num_classes: int | None = None,
    batch_size: int = 64,
    classes: Sequence[str] | None = None,
) -> DataSplits:
    """Split float ``images`` (N x ...) by ``seed``; ``test`` replaces the carved test split (official test sets).

    ``normalize`` standardises each channel with the training split's mean and std, so no
    statistic leaks from validation or test data.
    """
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction)
    labels = np.asarray(labels, dtype=np.int64)
    val_index, test_index, train_index = stratified_split(labels, [val_fraction, test_fraction], seed)
    tensors = {
        "train": (images[train_index], labels[train_index]),
        "val": (images[val_index], labels[val_index]),
        "test": test if test is not None else (images[test_index], labels[test_index]),
    }
    if normalize:
        tensors = _standardized(tensors)
    datasets = {name: TensorDataset(x, torch.as_tensor(y, dtype=torch.long)) for name, (x, y) in tensors.items()}
    return DataSplits(
        **datasets,
        num_classes=num_classes if num_classes is not None else int(labels.max()) + 1,
        input_shape=images.shape[1:],
        batch_size=batch_size,
        classes=classes,
    )


def _standardized(tensors: dict) -> dict:
    train = tensors["train"][0]
    if len(train) == 0:
        raise ValueError("normalize=True needs training samples to measure the mean and std")
    channel_dims = [d for d in range(train.dim()) if d != 1] if train.dim() > 2 else [0]
    mean = train.mean(dim=channel_dims, keepdim=True)[0]
    std = train.std(dim=channel_dims, keepdim=True)[0].clamp_min(1e-6)
    return {name: ((x - mean) / std, y) for name, (x, y) in tensors.items()}
