"""A found policy as one JSON file that rebuilds it anywhere: :func:`load_policy`.

The file holds everything the policy needs and nothing of the search that found it::

    {"format": "hyperbox-augmentation-policy", "version": 1, "dims": 2, "in_channels": 1,
     "subpolicies": [[["rotate", 0.8, 4], ["invert", 0.5, null]], ...]}

Each entry is Kornia's AutoAugment triple ``(name, probability, magnitude bin)``; ``in_channels``
is null when the policy fits any channel count. ``load_policy`` returns Kornia's ``AutoAugment``
(2-D) or a :class:`~hyperbox.ada.volumetric.VolumePolicy` of Kornia's 3-D augmentations: a plain
``torch.nn.Module`` that augments whenever it is called, for any training loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from hyperbox.ada.ops import MAGNITUDE_BINS, WITHOUT_MAGNITUDE, check_operations

__all__ = ["FORMAT", "policy_document", "save_policy", "read_policy", "load_policy", "kornia_module"]

FORMAT = "hyperbox-augmentation-policy"
VERSION = 1


def policy_document(policy: Sequence[Sequence[Sequence[Any]]], in_channels: int | None, dims: int) -> dict[str, Any]:
    """The JSON document of ``policy`` (Kornia's format) for ``dims``-D data with ``in_channels``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "dims": dims,
        "in_channels": in_channels,
        "subpolicies": [[list(entry) for entry in subpolicy] for subpolicy in policy],
    }


def save_policy(path: str | os.PathLike, document: dict[str, Any]) -> None:
    """Write ``document`` (checked first, so nothing invalid is written) to ``path``."""
    check_document(document, os.fspath(path))
    with open(path, "w", encoding="utf-8") as file:
        file.write(json.dumps(document, indent=2) + "\n")


def read_policy(path: str | os.PathLike) -> dict[str, Any]:
    """The checked document in the policy file ``path``."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        raise ValueError(f"{where}: no such policy file") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{where}: not a readable JSON policy ({error})") from None
    return check_document(document, where)


def load_policy(
    path: str | os.PathLike, in_channels: int | None = None, input_shape: Sequence[int] | None = None
) -> nn.Module:
    """The policy in ``path`` as a Kornia module (2-D ``AutoAugment`` or a 3-D :class:`VolumePolicy`).

    ``in_channels`` and ``input_shape`` (one sample: ``(C, H, W)`` or ``(C, D, H, W)``), when
    given, are the data it will augment: a policy written for another channel count or
    dimensionality is refused.
    """
    where = os.fspath(path)
    document = read_policy(path)
    if input_shape is not None:
        if in_channels is None:
            in_channels = int(input_shape[0])
        dims = len(input_shape) - 1
        if dims != document["dims"]:
            raise ValueError(
                f"{where}: a policy for {document['dims']}-D data; these samples have shape {tuple(input_shape)} "
                f"({dims}-D)"
            )
    if in_channels is not None and document["in_channels"] not in (None, in_channels):
        raise ValueError(
            f"{where}: a policy for {document['in_channels']}-channel data; these have {in_channels} channel(s)"
        )
    if in_channels is not None and document["in_channels"] is None:  # written for any data: its ops checked for these
        check_document({**document, "in_channels": in_channels}, where)
    return kornia_module(document["subpolicies"], document["dims"])


def kornia_module(policy: Sequence[Sequence[Sequence[Any]]], dims: int) -> nn.Module:
    """``policy`` (Kornia's format) as Kornia's ``AutoAugment`` (2-D) or a ``VolumePolicy`` (3-D)."""
    policy = [[tuple(entry) for entry in subpolicy] for subpolicy in policy]
    if dims == 3:
        from hyperbox.ada.volumetric import VolumePolicy

        return VolumePolicy(policy)
    from kornia.augmentation.auto import AutoAugment

    return AutoAugment(policy=policy)


def check_document(document: Any, where: str) -> dict[str, Any]:
    """``document`` if it is a valid policy, else a one-line ValueError naming ``where`` and the key."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{where}: not a policy file (expected a JSON object with format: {FORMAT!r})")
    if document.get("version") != VERSION:
        raise ValueError(f"{where}: version {document.get('version')!r} is not {VERSION}")
    dims, in_channels = document.get("dims"), document.get("in_channels")
    if dims not in (2, 3):
        raise ValueError(f"{where}: dims={dims!r} must be 2 or 3")
    if in_channels is not None and (
        isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1
    ):
        raise ValueError(f"{where}: in_channels={in_channels!r} must be a positive integer or null")
    subpolicies = document.get("subpolicies")
    if not isinstance(subpolicies, list) or not subpolicies:
        raise ValueError(f"{where}: subpolicies must be a non-empty list of sub-policies")
    for s, subpolicy in enumerate(subpolicies):
        if not isinstance(subpolicy, list) or not subpolicy:
            raise ValueError(f"{where}: subpolicies[{s}] must be a non-empty list of [name, probability, magnitude]")
        for j, entry in enumerate(subpolicy):
            at = f"{where}: subpolicies[{s}][{j}]"
            if not isinstance(entry, (list, tuple)) or len(entry) != 3:
                raise ValueError(f"{at}: expected [name, probability, magnitude], got {entry!r}")
            name, probability, magnitude = entry
            check_operations([name], in_channels, at, dims)
            if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
                raise ValueError(f"{at}: probability {probability!r} of {name!r} must be in [0, 1]")
            if name in WITHOUT_MAGNITUDE:
                continue
            if isinstance(magnitude, bool) or magnitude not in MAGNITUDE_BINS:
                raise ValueError(f"{at}: magnitude {magnitude!r} of {name!r} must be a bin in 0..9")
    return document
