"""``AugmentationPolicy``: an AutoAugment-style policy as a Hyperbox search space over Kornia operations.

A policy is ``n_subpolicies`` sub-policies of ``ops_per_subpolicy`` slots. Each slot holds three
decisions, with stable keys (``key`` defaults to ``"policy"``)::

    policy.s0.op0.op          which operation      (an OperationSpace over the op names)
    policy.s0.op0.magnitude   its magnitude bin    (a ValueSpace over Kornia's bins 0..9)
    policy.s0.op0.prob        its probability      (a ValueSpace over 0.0, 0.1, ..., 1.0)

so a policy is an architecture (``key -> decision``) that every mutator searches and that saves
and loads as architecture JSON. In training mode the policy applies one randomly picked
sub-policy per batch; in eval mode it is the identity.

*Discrete mode* (every decision set): ``forward`` runs exactly the Kornia pipeline that
:meth:`AugmentationPolicy.to_kornia` exports, ``kornia.augmentation.auto.AutoAugment`` with the
found policy, so the same torch seed gives the same images inside and outside Hyperbox.

*Differentiable mode* (a ``darts``/``gdas`` mutator attached its mixers): only the operation
choice is relaxed. Each slot outputs the mixture ``sum_i w_i * op_i(x)`` of its candidate
operations, each applied at the slot's sampled magnitude bin and probability; magnitudes and
probabilities stay categorical (the mutator samples them from their own weights, which receive no
gradient). The relaxation gives the architecture weights a gradient through any loss of the
augmented images; which loss to minimise is the trainer's choice (Faster AutoAugment's
density-matching critic is not provided: plain validation loss favours mild operations).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.ada.ops import (
    DEFAULT_OPERATIONS,
    MAGNITUDE_BINS,
    PROBABILITIES,
    WITHOUT_MAGNITUDE,
    PolicyOperation,
    check_magnitudes,
    check_operations,
    check_probabilities,
)
from hyperbox.ada.policy_file import kornia_module, policy_document, save_policy
from hyperbox.ada.volumetric import OPERATIONS_3D
from hyperbox.kernel import Categorical, SearchSpace, load_arch
from hyperbox.nas.spaces import OperationSpace, ValueSpace

__all__ = ["AugmentationPolicy", "PolicySlot"]

#: Kornia's format of a policy: sub-policies of ``(name, probability, magnitude bin or None)``.
KorniaPolicy = list[list[tuple[str, float, "int | None"]]]


class PolicySlot(nn.Module):
    """One operation of a sub-policy: which Kornia operation, at which magnitude bin, with which probability."""

    def __init__(
        self,
        key: str,
        ops: Sequence[str],
        magnitudes: Sequence[int],
        probabilities: Sequence[float],
        mask: Any = None,
        dims: int = 2,
    ) -> None:
        super().__init__()
        self.key = key
        self.ops = tuple(ops)
        self.op = OperationSpace([PolicyOperation(name, dims) for name in self.ops], key=f"{key}.op", mask=mask)
        # The candidates share one class: label the choice by operation name instead.
        self.op.domain = Categorical(len(self.ops), labels=self.ops)
        self.magnitude = ValueSpace(list(magnitudes), key=f"{key}.magnitude", mask=mask)
        self.prob = ValueSpace(list(probabilities), key=f"{key}.prob", mask=mask)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The chosen (or, in differentiable mode, mixed) operation at the slot's magnitude and probability."""
        return self.op(images, self.prob.value, self.magnitude.value)

    def entry(self, decisions: Mapping[str, Any]) -> tuple[str, float, int | None]:
        """Kornia's ``(name, probability, magnitude bin)`` for ``decisions`` (canonical ``key -> index``)."""
        name = self.ops[decisions[self.op.key]]
        magnitude = None if name in WITHOUT_MAGNITUDE else self.magnitude.candidates[decisions[self.magnitude.key]]
        return name, self.prob.candidates[decisions[self.prob.key]], magnitude


class AugmentationPolicy(nn.Module):
    """AutoAugment-style policy space over Kornia ops: per slot an op, a magnitude bin and a probability.

    Args:
        ops: candidate operation names (see :mod:`hyperbox.ada.ops`, and :mod:`hyperbox.ada.volumetric`
            for ``dims=3``; default: every operation that runs on 1- and 3-channel data).
        n_subpolicies: sub-policies; one of them, drawn uniformly, augments each batch.
        ops_per_subpolicy: operations applied in order by a sub-policy.
        magnitudes: candidate magnitude bins (Kornia's AutoAugment bins, 0..9).
        probabilities: candidate probabilities of applying an operation.
        mask: decisions to start from: a dict ``{key: decision}`` covering the policy, or an
            architecture JSON file (e.g. a run's ``best_arch.json``).
        key: prefix of every key.
        in_channels: channels of the images, to reject RGB-only operations for grey images
            (the runner passes the dataset's); written into the exported policy.
        dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, D, H, W)`` (Kornia's 3-D
            augmentations).
    """

    def __init__(
        self,
        ops: Sequence[str] | None = None,
        n_subpolicies: int = 5,
        ops_per_subpolicy: int = 2,
        magnitudes: Sequence[int] = MAGNITUDE_BINS,
        probabilities: Sequence[float] = PROBABILITIES,
        mask: Any = None,
        key: str = "policy",
        in_channels: int | None = None,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"{key}: dims={dims!r} must be 2 (images) or 3 (volumes)")
        for name, value in (("n_subpolicies", n_subpolicies), ("ops_per_subpolicy", ops_per_subpolicy)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}: {name}={value!r} must be a positive integer")
        if isinstance(mask, (str, os.PathLike)):
            mask = load_arch(mask)  # read the file once, not once per mutable
        self.key, self.in_channels, self.dims = key, in_channels, dims
        if ops is None:
            ops = DEFAULT_OPERATIONS if dims == 2 else OPERATIONS_3D
        self.ops = check_operations(ops, in_channels, key, dims)
        magnitudes, probabilities = check_magnitudes(magnitudes, key), check_probabilities(probabilities, key)
        self.subpolicies = nn.ModuleList(
            nn.ModuleList(
                PolicySlot(f"{key}.s{s}.op{j}", self.ops, magnitudes, probabilities, mask, dims)
                for j in range(ops_per_subpolicy)
            )
            for s in range(n_subpolicies)
        )
        self._exported: tuple[KorniaPolicy, nn.Module] | None = None  # discrete mode's Kornia pipeline

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Augment ``images`` (B, C, H, W in [0, 1]) in training mode; return them unchanged in eval mode."""
        if not self.training:
            return images
        if any(slot.op.mixer is not None for slot in self.slots()):
            return self._forward_mixed(images)
        policy = self.kornia_policy()
        if self._exported is None or self._exported[0] != policy:
            self._exported = policy, self.to_kornia()
        return self._exported[1].to(images.device)(images)

    def _forward_mixed(self, images: torch.Tensor) -> torch.Tensor:
        # Draw the sub-policy from torch's generator, like Kornia's AutoAugment does.
        for slot in self.subpolicies[int(torch.randint(len(self.subpolicies), ()))]:
            images = slot(images)
        return images

    def slots(self) -> Iterator[PolicySlot]:
        """Every slot, sub-policy by sub-policy."""
        for subpolicy in self.subpolicies:
            yield from subpolicy

    def decisions(self, arch: Mapping[str, Any] | str | os.PathLike | None = None) -> dict[str, Any]:
        """Canonical decisions of the policy's keys: from ``arch`` (a dict or JSON file, whose other
        keys, e.g. a network's, are ignored) or, when ``None``, the current ones."""
        space = SearchSpace.of(self)
        if arch is None:
            undecided = sorted(m.key for m in space.mutables() if m.decision is None)
            if undecided:
                raise ValueError(f"{self.key}: key(s) {undecided} have no decision; pass an architecture")
            return {m.key: m.decision for m in space.mutables()}
        own = {key: value for key, value in load_arch(arch).items() if key in space}
        return space.validate(own, where=f"{self.key} architecture")

    def kornia_policy(self, arch: Mapping[str, Any] | str | os.PathLike | None = None) -> KorniaPolicy:
        """The policy in Kornia's format: ``[[(name, probability, magnitude bin), ...], ...]``."""
        decisions = self.decisions(arch)
        return [[slot.entry(decisions) for slot in subpolicy] for subpolicy in self.subpolicies]

    def to_kornia(self, arch: Mapping[str, Any] | str | os.PathLike | None = None) -> nn.Module:
        """A ``kornia.augmentation.auto.AutoAugment`` applying exactly the policy of ``arch`` (default:
        the current decisions), or for ``dims=3`` a :class:`~hyperbox.ada.volumetric.VolumePolicy` of
        Kornia's 3-D augmentations; it augments whenever called, in any mode."""
        return kornia_module(self.kornia_policy(arch), self.dims)

    def to_json(self, arch: Mapping[str, Any] | str | os.PathLike | None = None) -> dict[str, Any]:
        """The policy of ``arch`` (default: the current decisions) as one self-contained document:
        operations, probabilities, magnitude bins, channel count and dimensionality."""
        return policy_document(self.kornia_policy(arch), self.in_channels, self.dims)

    def save(self, path: str | os.PathLike, arch: Mapping[str, Any] | str | os.PathLike | None = None) -> None:
        """Write :meth:`to_json` to ``path``, for :func:`hyperbox.ada.load_policy`."""
        save_policy(path, self.to_json(arch))

    def export_module(self) -> nn.Module:
        """What ``build_subnet`` puts in the policy's place: :meth:`to_kornia` of the current decisions."""
        return self.to_kornia()

    def extra_repr(self) -> str:
        return f"key={self.key!r}, ops={list(self.ops)}, dims={self.dims}"
