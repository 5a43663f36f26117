"""The 3-D vocabulary: Kornia's volumetric augmentations (``kornia.augmentation``'s ``*3D`` family)
as policy operations, for ``(B, C, D, H, W)`` volumes such as medical scans.

Each operation has, like the 2-D ones, an eleven-point magnitude scale and bins ``0..9``; a bin of
a signed scale (``rotate``: -30..30 degrees about each axis) spans two adjacent points, and the
magnitude of a symmetric one (``translate``: up to 0.3 of each side, either way; ``shear``: up to
30 degrees; ``crop``: each side padded by up to 0.3 of its length, then a random crop of the
volume's own size, as a scan's region is cropped) is the bin's upper point. :class:`VolumePolicy`
applies a policy as Kornia's ``AutoAugment`` does in 2-D: one sub-policy drawn per batch, its
operations in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["OPERATIONS_3D", "SCALES_3D", "PaddedCrop3D", "build_operation_3d", "VolumePolicy"]

#: Every 3-D operation name.
OPERATIONS_3D = (
    "rotate",
    "translate",
    "scale",
    "shear",
    "horizontal_flip",
    "vertical_flip",
    "depthical_flip",
    "equalize",
    "crop",
)
#: First and last point of each 3-D operation's eleven-point magnitude scale.
SCALES_3D = {
    "rotate": (-30.0, 30.0),
    "translate": (0.0, 0.3),
    "scale": (0.5, 1.5),
    "shear": (0.0, 30.0),
    "crop": (0.0, 0.3),
}


def _points(name: str) -> torch.Tensor:
    return torch.linspace(*SCALES_3D[name], 11)


def build_operation_3d(name: str, probability: float, magnitude: int | None) -> nn.Module:
    """Kornia's 3-D augmentation for ``name`` at ``probability`` and magnitude bin ``magnitude``."""
    import kornia.augmentation as K

    if name in ("horizontal_flip", "vertical_flip", "depthical_flip"):
        flip = {"horizontal_flip": K.RandomHorizontalFlip3D, "vertical_flip": K.RandomVerticalFlip3D}
        return flip.get(name, K.RandomDepthicalFlip3D)(p=probability)
    if name == "equalize":
        return K.RandomEqualize3D(p=probability)
    low, high = (float(v) for v in _points(name)[magnitude : magnitude + 2])
    if name == "rotate":
        return K.RandomRotation3D(((low, high),) * 3, p=probability)
    if name == "translate":
        return K.RandomAffine3D(0.0, translate=(high, high, high), p=probability)
    if name == "scale":
        return K.RandomAffine3D(0.0, scale=(low, high), p=probability)
    if name == "crop":
        return PaddedCrop3D(high, probability)
    return K.RandomAffine3D(0.0, shears=high, p=probability)


class PaddedCrop3D(nn.Module):
    """Kornia's ``RandomCrop3D`` of the volume's own size after padding each side by ``fraction`` of
    its length (at least one voxel), applied to each volume with ``probability`` as the other
    operations are (Kornia's crop would gate the whole batch at once). The crop is built at the
    first call, when the volume's size is known, on the volume's device."""

    def __init__(self, fraction: float, probability: float) -> None:
        super().__init__()
        self.fraction, self.probability = fraction, probability
        self._crop: Any = None  # Kornia's crop for the size met last (it holds no state to save)
        self._size: tuple[int, ...] = ()

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        import kornia.augmentation as K

        depth, height, width = volumes.shape[-3:]
        if self._crop is None or self._size != (depth, height, width, volumes.device):
            pd, ph, pw = (max(1, round(self.fraction * side)) for side in (depth, height, width))
            # Kornia reads a 3-tuple padding as (width, height, depth); nearest: whole-voxel shifts
            self._crop = K.RandomCrop3D((depth, height, width), padding=(pw, ph, pd), resample="nearest")
            self._crop.set_rng_device_and_dtype(volumes.device, volumes.dtype)
            self._size = (depth, height, width, volumes.device)
        cropped = self._crop(volumes)
        chosen = torch.rand(volumes.shape[0], device=volumes.device) < self.probability
        return torch.where(chosen.view(-1, *([1] * (volumes.dim() - 1))), cropped, volumes)


class VolumePolicy(nn.Module):
    """A 3-D policy in Kornia's format (``[[(name, probability, magnitude bin), ...], ...]``) as Kornia
    modules: each call draws one sub-policy (from torch's generator) and applies its operations."""

    def __init__(self, policy: Sequence[Sequence[tuple[str, float, int | None]]]) -> None:
        super().__init__()
        self.policy = [[tuple(entry) for entry in subpolicy] for subpolicy in policy]
        self.subpolicies = nn.ModuleList(
            nn.Sequential(*(build_operation_3d(*entry) for entry in subpolicy)) for subpolicy in self.policy
        )

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        """``volumes`` (B, C, D, H, W) through one randomly drawn sub-policy."""
        return self.subpolicies[int(torch.randint(len(self.subpolicies), ()))](volumes)
