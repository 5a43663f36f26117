"""``augmented``: any registered space with an augmentation policy in front, searched as one space.

Why a space rather than a trainer: the policy then lives in the model, so every mutator samples
network and policy decisions as one architecture, every trainer (stand-alone, one-shot, DARTS)
trains with it unchanged, and ``build_subnet`` of the whole model gives a plain PyTorch model:
the network's subnet behind Kornia's ``AutoAugment`` with the found policy, applied in training
mode only. The architecture JSON holds both (``policy.*`` keys next to the network's).

In an experiment::

    space:
      name: augmented
      network: {name: digits_cnn}          # any registered space, with its arguments
      network_arch: {stem_width: 1, ...}   # optional: fix the network, search the policy alone
      policy: {ops: [rotate, shear_x, contrast], n_subpolicies: 3}
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyperbox.ada.policy import AugmentationPolicy

__all__ = ["AugmentedNetwork", "augmented"]


class AugmentedNetwork(nn.Module):
    """A network behind an augmentation module that only runs in training mode.

    ``augmentation`` is an :class:`AugmentationPolicy` in search, and its Kornia export in a
    subnet; ``network`` is the (searchable or plain) network.
    """

    def __init__(self, network: nn.Module, augmentation: nn.Module) -> None:
        super().__init__()
        self.augmentation = augmentation
        self.network = network

    def forward(self, images: torch.Tensor) -> Any:
        """``network(augmentation(images))`` in training mode, ``network(images)`` in eval mode."""
        return self.network(self.augmentation(images) if self.training else images)


def augmented(
    network: Mapping[str, Any],
    policy: Mapping[str, Any] | None = None,
    network_arch: Mapping[str, Any] | str | os.PathLike | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> AugmentedNetwork:
    """Registered space ``network`` (``{name: ..., **args}``) behind an :class:`AugmentationPolicy`.

    ``policy`` holds the policy's arguments; ``network_arch`` (a dict or JSON file) fixes the
    network with ``build_subnet`` so that only the policy is searched. The dataset's shape
    (``num_classes``, ``in_channels``, ``input_shape``, passed by the runner) reaches the network
    factory where it takes it, and the policy gets ``in_channels``.
    """
    from hyperbox.kernel.plugins import get_registry
    from hyperbox.nas.subnet import build_subnet

    if not isinstance(network, Mapping) or "name" not in network:
        raise ValueError(f"augmented: network must be a mapping with the 'name' of a registered space, got {network!r}")
    args = {key: value for key, value in network.items() if key != "name"}
    shape = {"num_classes": num_classes, "in_channels": in_channels, "input_shape": input_shape}
    factory = get_registry().get("spaces", network["name"]).load()
    extra = {k: v for k, v in shape.items() if v is not None and k not in args and _accepts(factory, k)}
    model = factory(**args, **extra)
    if network_arch is not None:
        model = build_subnet(model, network_arch)
    policy_args = dict(policy or {})
    policy_args.setdefault("in_channels", in_channels)
    return AugmentedNetwork(model, AugmentationPolicy(**policy_args))


def _accepts(factory: Any, name: str) -> bool:
    parameters = inspect.signature(factory).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
