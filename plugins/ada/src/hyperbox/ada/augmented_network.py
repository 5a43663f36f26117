"""``augmented``: any registered space with an augmentation policy in front, searched as one space.

Why a space rather than a trainer: the policy then lives in the model, so every mutator samples
network and policy decisions as one architecture, every trainer (stand-alone, one-shot, DARTS)
trains with it unchanged, and ``build_subnet`` of the whole model gives a plain PyTorch model:
the network's subnet behind Kornia's ``AutoAugment`` with the found policy, applied in training
mode only. The architecture JSON holds both (``policy.*`` keys next to the network's).

In an experiment::

    space:
      name: augmented
      network: {name: digits_cnn}          # any registered space, with its arguments (or, from Python, a model)
      network_arch: {stem_width: 1, ...}   # optional: fix the network, search the policy alone
      policy: {ops: [rotate, shear_x, contrast], n_subpolicies: 3}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
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
    network: Mapping[str, Any] | str | nn.Module,
    policy: Mapping[str, Any] | None = None,
    network_arch: Mapping[str, Any] | str | os.PathLike | None = None,
    in_channels: int | None = None,
    input_shape: Sequence[int] | None = None,
    build_space: Callable[[Any], nn.Module] | None = None,
) -> AugmentedNetwork:
    """``network`` behind an :class:`AugmentationPolicy`.

    ``network`` is a model, or a registered space (``{name: ..., **args}``) that ``build_space``
    (given by the engine, with the dataset's shape) builds. ``policy`` holds the policy's
    arguments; ``network_arch`` (a dict or JSON file) fixes the network with ``build_subnet`` so
    that only the policy is searched. The policy gets the dataset's ``in_channels``, and its
    ``dims`` from the dataset's ``input_shape`` (one sample: ``(C, H, W)`` images or ``(C, D, H, W)``
    volumes) unless ``policy`` names them, which must then fit.
    """
    from hyperbox.nas.subnet import build_subnet

    if isinstance(network, nn.Module):
        model = network
    elif isinstance(network, (str, Mapping)) and build_space is not None:
        model = build_space(network)
    else:
        raise ValueError(f"augmented: network must be a model or a registered space {{name: ...}}, got {network!r}")
    if network_arch is not None:
        model = build_subnet(model, network_arch)
    policy_args = dict(policy or {})
    policy_args.setdefault("in_channels", in_channels)
    if input_shape is not None:
        dims = len(input_shape) - 1
        if dims not in (2, 3):
            raise ValueError(
                f"augmented: samples of shape {tuple(input_shape)} are neither images (C, H, W) nor volumes "
                "(C, D, H, W)"
            )
        if policy_args.setdefault("dims", dims) != dims:
            raise ValueError(
                f"augmented: policy dims={policy_args['dims']!r} does not fit the data: samples of shape "
                f"{tuple(input_shape)} are {dims}-D"
            )
    return AugmentedNetwork(model, AugmentationPolicy(**policy_args))


def export_parts(space: Any, subnet: nn.Module, arch: Mapping[str, Any], directory: Any) -> Any:
    """``hbk export``'s split of an augmented model: ``policy.json`` beside the plain network."""
    if not isinstance(space, AugmentedNetwork) or not isinstance(space.augmentation, AugmentationPolicy):
        return None
    path = directory / "policy.json"
    space.augmentation.save(path, arch)
    return subnet.network, [path]
