"""A trainer's ``augment``: the batch transform applied to training batches, on the training device.

The kernel builds it from the experiment (``trainer: {augment: randaugment}``, a policy JSON file,
``none``) through the registered augmentations, so trainers only ever see a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def check_augment(augment: Any) -> None:
    if augment is not None and not callable(augment):
        raise ValueError(
            f"augment={augment!r} must be a batch transform (a callable such as a Kornia augmentation); "
            "names and policy files are resolved in a trainer spec: {name: standalone, augment: randaugment}"
        )


def batch_transform(augment: Any, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``augment`` moved to ``device``, applied without gradients (the identity when None)."""
    if augment is None:
        return _unchanged
    if hasattr(augment, "to"):
        augment.to(device)

    def transform(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return augment(inputs)

    return transform


def _unchanged(inputs: torch.Tensor) -> torch.Tensor:
    return inputs
