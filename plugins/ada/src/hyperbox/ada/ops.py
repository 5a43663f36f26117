"""The operation vocabulary of a policy: Kornia's AutoAugment operations, by name.

A policy entry is Kornia's ``(name, probability, magnitude bin)`` triple, the format of
``kornia.augmentation.auto.AutoAugment(policy=...)``; the names and the magnitude scale of each
operation are Kornia's (``kornia.augmentation.auto.autoaugment.ops``), so a found policy runs in
Kornia unchanged. A magnitude bin ``b`` in ``0..9`` selects the interval between points ``b`` and
``b + 1`` of the operation's eleven-point scale; the magnitude is drawn in it per image. Geometric
scales are signed (``rotate`` spans -30..30 degrees), so low bins turn one way and high bins the
other.

Images are ``(B, C, H, W)`` floats in ``[0, 1]`` with one or three channels; ``color``
(saturation) needs three.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn

__all__ = [
    "OPERATIONS",
    "DEFAULT_OPERATIONS",
    "RGB_ONLY",
    "WITHOUT_MAGNITUDE",
    "MAGNITUDE_BINS",
    "PROBABILITIES",
    "check_operations",
    "check_magnitudes",
    "check_probabilities",
    "PolicyOperation",
]

#: Every operation name Kornia's AutoAugment knows.
OPERATIONS = (
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "auto_contrast",
    "invert",
    "equalize",
    "solarize",
    "posterize",
    "contrast",
    "brightness",
    "sharpness",
    "color",
)
#: Operations that only accept 3-channel (RGB) images.
RGB_ONLY = frozenset({"color"})
#: Operations that ignore the magnitude (Kornia's policies write ``None`` for it).
WITHOUT_MAGNITUDE = frozenset({"auto_contrast", "invert", "equalize"})
#: The default vocabulary: every operation that runs on 1- and 3-channel images.
DEFAULT_OPERATIONS = tuple(name for name in OPERATIONS if name not in RGB_ONLY)
#: Kornia's AutoAugment magnitude bins.
MAGNITUDE_BINS = tuple(range(10))
#: AutoAugment's probability grid.
PROBABILITIES = tuple(round(0.1 * i, 1) for i in range(11))


def check_operations(names: Iterable[str], in_channels: int | None = None, where: str = "policy") -> tuple[str, ...]:
    """``names`` as a tuple, after checking that Kornia has them and they fit ``in_channels``."""
    names = tuple(names)
    if not names:
        raise ValueError(f"{where}: ops is empty; name at least one of {', '.join(OPERATIONS)}")
    for name in names:
        if name not in OPERATIONS:
            raise ValueError(f"{where}: unknown op {name!r}; Kornia's AutoAugment has {', '.join(OPERATIONS)}")
        if name in RGB_ONLY and in_channels not in (None, 3):
            raise ValueError(f"{where}: op {name!r} needs 3-channel images, these have {in_channels}")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: ops {list(names)} repeat a name")
    return names


def check_magnitudes(bins: Sequence[int], where: str = "policy") -> tuple[int, ...]:
    """``bins`` as a tuple, after checking each is one of Kornia's :data:`MAGNITUDE_BINS`."""
    bins = tuple(bins)
    bad = [b for b in bins if isinstance(b, bool) or b not in MAGNITUDE_BINS]
    if not bins or bad:
        raise ValueError(f"{where}: magnitudes {list(bins)} must be non-empty bins in 0..9 (bad: {bad})")
    return bins


def check_probabilities(values: Sequence[float], where: str = "policy") -> tuple[float, ...]:
    """``values`` as a tuple of floats, after checking each is in ``[0, 1]``."""
    values = tuple(float(v) for v in values)
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if not values or bad:
        raise ValueError(f"{where}: probabilities {list(values)} must be non-empty values in [0, 1] (bad: {bad})")
    return values


class PolicyOperation(nn.Module):
    """One named Kornia AutoAugment operation, applied at the probability and magnitude bin it is called with.

    The candidate of a policy slot's :class:`~hyperbox.nas.OperationSpace` in differentiable
    search; the Kornia module for each ``(probability, magnitude)`` is built once and reused.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = check_operations([name])[0]
        self._built: dict[tuple, nn.Module] = {}  # a plain dict: Kornia's modules are not this module's weights

    def forward(self, images, probability: float, magnitude: int):
        """``images`` transformed with probability ``probability`` at magnitude bin ``magnitude``."""
        return self.kornia_module(probability, magnitude).to(images.device)(images)

    def kornia_module(self, probability: float, magnitude: int | None) -> nn.Module:
        """Kornia's operation for this name, probability and magnitude bin."""
        from kornia.augmentation.auto.autoaugment import ops

        magnitude = None if self.name in WITHOUT_MAGNITUDE else magnitude
        if (probability, magnitude) not in self._built:
            self._built[probability, magnitude] = getattr(ops, self.name)(probability, magnitude)
        return self._built[probability, magnitude]

    def extra_repr(self) -> str:
        return repr(self.name)
