"""The standard policies as trainer augmentations: Kornia's own AutoAugment, RandAugment and TrivialAugment.

Registered as ``augment: autoaugment | randaugment | trivialaugment`` (their Kornia arguments
pass through: ``{name: randaugment, n: 2, m: 10}``), and ``augment: POLICY.json`` for a found
policy (:func:`policy`). For one-channel images Kornia's ``color`` (saturation) is left out of
the policies: it needs three channels, and on a grey image it would change nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from hyperbox.ada.ops import RGB_ONLY
from hyperbox.ada.policy_file import load_policy

__all__ = ["autoaugment", "randaugment", "trivialaugment", "policy"]

#: Kornia's policy format: sub-policies of ``(name, a, b)`` entries.
Policy = Sequence[Sequence[Sequence[Any]]]


def autoaugment(
    policy: str | list = "imagenet", in_channels: int | None = None, input_shape: Sequence[int] | None = None
) -> nn.Module:
    """``kornia.augmentation.auto.AutoAugment(policy)``: ``imagenet``, ``cifar10``, ``svhn`` or a policy list."""
    from kornia.augmentation.auto import AutoAugment
    from kornia.augmentation.auto.autoaugment import autoaugment as presets

    _check_images("autoaugment", input_shape)
    if isinstance(policy, str):
        known = {"imagenet": presets.imagenet_policy, "cifar10": presets.cifar10_policy, "svhn": presets.svhn_policy}
        if policy not in known:
            raise ValueError(f"autoaugment: policy={policy!r} must be one of {', '.join(known)} or a list")
        policy = known[policy]
    return AutoAugment(policy=_for_channels(policy, in_channels))


def randaugment(
    n: int = 2,
    m: int = 10,
    policy: list | None = None,
    in_channels: int | None = None,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """``kornia.augmentation.auto.RandAugment(n, m, policy)``: ``n`` operations at magnitude ``m`` (0 < m < 30)."""
    from kornia.augmentation.auto import RandAugment
    from kornia.augmentation.auto.rand_augment.rand_augment import default_policy

    _check_images("randaugment", input_shape)
    return RandAugment(n=n, m=m, policy=_for_channels(default_policy if policy is None else policy, in_channels))


def trivialaugment(
    policy: list | None = None, in_channels: int | None = None, input_shape: Sequence[int] | None = None
) -> nn.Module:
    """``kornia.augmentation.auto.TrivialAugment(policy)``: one operation at a random magnitude per batch."""
    from kornia.augmentation.auto import TrivialAugment
    from kornia.augmentation.auto.trivial_augment.trivial_augment import default_policy

    _check_images("trivialaugment", input_shape)
    return TrivialAugment(policy=_for_channels(default_policy if policy is None else policy, in_channels))


def policy(
    path: str | os.PathLike, in_channels: int | None = None, input_shape: Sequence[int] | None = None
) -> nn.Module:
    """A found policy's JSON file (:func:`hyperbox.ada.load_policy`), checked against the data."""
    return load_policy(path, in_channels=in_channels, input_shape=input_shape)


def _for_channels(policy: Policy, in_channels: int | None) -> list:
    """``policy`` without the operations ``in_channels``-channel images cannot take (and sub-policies left empty)."""
    if in_channels in (None, 3):
        return [list(subpolicy) for subpolicy in policy]
    kept = [[entry for entry in subpolicy if entry[0] not in RGB_ONLY] for subpolicy in policy]
    return [subpolicy for subpolicy in kept if subpolicy]


def _check_images(name: str, input_shape: Sequence[int] | None) -> None:
    if input_shape is not None and len(input_shape) != 3:
        raise ValueError(
            f"{name}: Kornia's {name} augments 2-D images (C, H, W); these samples have shape {tuple(input_shape)} "
            "(search a policy with dims: 3 for volumes)"
        )
