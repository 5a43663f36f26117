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

import difflib
from collections.abc import Iterable, Sequence

from torch import nn

__all__ = [
    "OPERATIONS",
    "DEFAULT_OPERATIONS",
    "RGB_ONLY",
    "WITHOUT_MAGNITUDE",
    "MAGNITUDE_BINS",
    "PROBABILITIES",
    "SCALES",
    "check_operations",
    "build_operation",
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
#: Operations that ignore the magnitude (Kornia's policies write ``None`` for it), 2-D and 3-D.
WITHOUT_MAGNITUDE = frozenset(
    {"auto_contrast", "invert", "equalize", "horizontal_flip", "vertical_flip", "depthical_flip"}
)
#: The default vocabulary: every operation that runs on 1- and 3-channel images.
DEFAULT_OPERATIONS = tuple(name for name in OPERATIONS if name not in RGB_ONLY)
#: The eleven-point magnitude scale (first and last point) of each operation, as Kornia's AutoAugment
#: draws it (``kornia.augmentation.auto.autoaugment.ops``): bin ``b`` spans points ``b`` and ``b + 1``.
SCALES = {
    "shear_x": (-0.3, 0.3),
    "shear_y": (-0.3, 0.3),
    "translate_x": (-0.5, 0.5),
    "translate_y": (-0.5, 0.5),
    "rotate": (-30.0, 30.0),
    "solarize": (0.0, 1.0),
    "posterize": (4.0, 8.0),
    "contrast": (0.1, 1.9),
    "brightness": (0.1, 1.9),
    "sharpness": (0.1, 1.9),
    "color": (0.1, 1.9),
}
#: Kornia's AutoAugment magnitude bins.
MAGNITUDE_BINS = tuple(range(10))
#: AutoAugment's probability grid.
PROBABILITIES = tuple(round(0.1 * i, 1) for i in range(11))


def check_operations(
    names: Iterable[str], in_channels: int | None = None, where: str = "policy", dims: int = 2
) -> tuple[str, ...]:
    """``names`` as a tuple, after checking that Kornia has them (for ``dims``-D data) and they fit ``in_channels``."""
    from hyperbox.ada.volumetric import OPERATIONS_3D

    known, family = (OPERATIONS, "Kornia's AutoAugment") if dims == 2 else (OPERATIONS_3D, "the 3-D vocabulary")
    names = tuple(names)
    if not names:
        raise ValueError(f"{where}: ops is empty; name at least one of {', '.join(known)}")
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: unknown op {name!r}{hint}; {family} has {', '.join(known)}")
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


def build_operation(name: str, probability: float, magnitude: int | None, dims: int = 2) -> nn.Module:
    """Kornia's module for operation ``name`` applied with ``probability`` at magnitude bin ``magnitude``."""
    if dims == 3:
        from hyperbox.ada.volumetric import build_operation_3d

        return build_operation_3d(name, probability, magnitude)
    from kornia.augmentation.auto.autoaugment import ops

    return getattr(ops, name)(probability, None if name in WITHOUT_MAGNITUDE else magnitude)


class PolicyOperation(nn.Module):
    """One named Kornia AutoAugment operation, applied at the probability and magnitude bin it is called with.

    The candidate of a policy slot's :class:`~hyperbox.nas.OperationSpace` in differentiable
    search; the Kornia module for each ``(probability, magnitude)`` is built once and reused.
    """

    def __init__(self, name: str, dims: int = 2) -> None:
        super().__init__()
        self.name, self.dims = check_operations([name], dims=dims)[0], dims
        self._built: dict[tuple, nn.Module] = {}  # a plain dict: Kornia's modules are not this module's weights

    def forward(self, images, probability: float, magnitude: int):
        """``images`` transformed with probability ``probability`` at magnitude bin ``magnitude``."""
        return self.kornia_module(probability, magnitude).to(images.device)(images)

    def kornia_module(self, probability: float, magnitude: int | None) -> nn.Module:
        """Kornia's operation for this name, probability and magnitude bin."""
        if (probability, magnitude) not in self._built:
            self._built[probability, magnitude] = build_operation(self.name, probability, magnitude, self.dims)
        return self._built[probability, magnitude]

    def extra_repr(self) -> str:
        return repr(self.name)
