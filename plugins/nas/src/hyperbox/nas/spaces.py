"""Searchable points of a PyTorch network: ``OperationSpace``, ``InputSpace`` and ``ValueSpace``.

Each space is a ``torch.nn.Module`` and a kernel :class:`~hyperbox.kernel.Mutable`, so every
mutator can search it and an architecture is a plain ``key -> decision`` mapping.

A space runs in one of three modes, chosen once per change (not per call) so that ``forward`` is a
single indirect call:

- *decided*: a decision is set; only the chosen candidate(s) run.
- *mixed*: a differentiable mutator attached a :data:`Mixer` as ``space.mixer``; the output is
  the weighted combination of the candidates the mixer marks active (this overrides a decision).
- *undecided*: neither; calling the space is an error.

Mixer protocol: ``mixer() -> (weights, active)`` where ``weights`` is a 1-D tensor with one
weight per candidate and ``active`` the indices worth computing (``None``: all of them). DARTS
returns the softmax and ``None``; GDAS returns a straight-through one-hot and the sampled index.
A candidate whose output is always zero declares ``is_zero = True`` and is never computed in
mixed mode (it adds nothing to the sum).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import Categorical, Mutable, Subset, load_arch

__all__ = ["Mixer", "OperationSpace", "InputSpace", "ValueSpace", "combine", "REDUCTIONS"]

#: ``() -> (weights, active indices or None)``, see the module docstring.
Mixer = Callable[[], tuple[torch.Tensor, "Sequence[int] | None"]]

#: How an ``InputSpace`` combines its chosen (or weighted) inputs.
REDUCTIONS = ("sum", "mean", "concat", "none")


def combine(tensors: list[torch.Tensor], reduction: str) -> Any:
    """Reduce ``tensors`` by ``reduction`` (one of :data:`REDUCTIONS`; ``concat`` joins dim 1)."""
    if reduction == "none":
        return tensors
    if reduction == "concat":
        return torch.cat(tensors, dim=1)
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total / len(tensors) if reduction == "mean" else total


def _name(key: str | None) -> str:
    return f"mutable {key!r}" if key else "mutable"


class _Space(nn.Module, Mutable):
    """What every space shares: the seed's ``mask`` as a bool tensor, settable from a dict or file."""

    @property
    def mask(self) -> torch.Tensor | None:
        """The decision as a one-hot / multi-hot bool tensor (``None`` while undecided)."""
        mask = Mutable.mask.fget(self)
        return None if mask is None else torch.tensor(mask, dtype=torch.bool)

    @mask.setter
    def mask(self, value: Any) -> None:
        # A dict or an architecture file may cover many mutables: take this one's entry.
        if isinstance(value, (str, os.PathLike, Mapping)):
            arch = load_arch(value)
            if self.key not in arch:
                raise ValueError(f"{_name(self.key)}: mask dict has no entry for this key")
            value = arch[self.key]
        self.decision = value

    def extra_repr(self) -> str:
        return f"key={self.key!r}, decision={self._decision!r}"


class _MixableSpace(_Space):
    """A space that a differentiable mutator can put in mixed mode through :attr:`mixer`."""

    def __init__(self) -> None:
        super().__init__()
        self._mixer: Mixer | None = None
        object.__setattr__(self, "_path", self._forward_undecided)

    @property
    def mixer(self) -> Mixer | None:
        """The differentiable mode's weight source (set by a mutator; ``None`` = discrete mode)."""
        return self._mixer

    @mixer.setter
    def mixer(self, mixer: Mixer | None) -> None:
        self._mixer = mixer
        self._choose_path()

    def on_decision(self, decision: Any) -> None:
        self._choose_path()

    def _choose_path(self) -> None:
        """Pick what ``forward`` runs; stored outside ``_modules`` so no module is registered twice."""
        if self._mixer is not None:
            path = self._forward_mixed
        elif self._decision is not None:
            path = self._decided_path()
        else:
            path = self._forward_undecided
        object.__setattr__(self, "_path", path)

    def _forward_undecided(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{_name(self.key)}: no decision; sample an architecture with a mutator first")


class OperationSpace(_MixableSpace):
    """Choose one of ``candidates`` (modules taking the same inputs).

    Args:
        candidates: the candidate modules, or a mapping ``name -> module`` (as NNI's
            ``LayerChoice``) whose names label the choices; a list is labelled by class names,
            made unique within the space by kernel size (``Conv2d_5x5``) or position.
            List them from the smallest to the largest: the one-shot sandwich rule trains the
            first and the last.
        key: decisions are shared by every mutable with the same key (default: the module path).
        mask: a one-hot list/tensor, a dict ``{key: one-hot}``, a JSON architecture file, or
            ``None`` to leave the choice to a mutator.
        reduction: ``"sum"`` or ``"mean"`` of the weighted candidate outputs in mixed mode.
    """

    def __init__(
        self,
        candidates: Sequence[nn.Module] | Mapping[str, nn.Module],
        key: str | None = None,
        mask: Any = None,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if isinstance(candidates, Mapping):
            labels, candidates = [str(name) for name in candidates], list(candidates.values())
        else:
            candidates = list(candidates)
            labels = _derived_labels(candidates)
        if not candidates:
            raise ValueError(f"{_name(key)}: OperationSpace needs at least one candidate")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"{_name(key)}: reduction {reduction!r} must be 'sum' or 'mean'")
        self.candidates = nn.ModuleList(candidates)
        self.length = len(candidates)
        self.reduction = reduction
        # Zero ops (DARTS `none`) add nothing to a mixture: mixed mode never runs them.
        self._nonzero = tuple(i for i, op in enumerate(candidates) if not getattr(op, "is_zero", False))
        self.init_mutable(key, Categorical(self.length, labels=labels), mask)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the chosen candidate, or the mixture in mixed mode."""
        return self._path(*args, **kwargs)

    def _decided_path(self) -> Callable:
        return self.candidates[self._decision]

    def _forward_mixed(self, *args: Any, **kwargs: Any) -> Any:
        weights, active = self._mixer()
        if active is None:
            active, computed = range(self.length), self._nonzero
        else:
            computed = [i for i in active if i in self._nonzero]
        # An all-zero selection still has to produce a correctly shaped (zero) output.
        terms = [weights[i] * self.candidates[i](*args, **kwargs) for i in computed or active[:1]]
        total = combine(terms, "sum")
        return total / len(active) if self.reduction == "mean" else total


class InputSpace(_MixableSpace):
    """Choose ``n_chosen`` of ``n_candidates`` inputs (any non-empty subset when ``n_chosen`` is None).

    Called with the list of all candidate inputs; returns the chosen ones combined by
    ``reduction`` (``"sum"``, ``"mean"``, ``"concat"`` along dim 1, or ``"none"`` for the list).
    With a single chosen input it returns that very tensor.
    """

    def __init__(
        self,
        n_candidates: int,
        n_chosen: int | None = None,
        key: str | None = None,
        mask: Any = None,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{_name(key)}: reduction {reduction!r} must be one of {REDUCTIONS}")
        self.n_candidates = n_candidates
        self.n_chosen = n_chosen
        self.reduction = reduction
        self.init_mutable(key, Subset(n_candidates, n_chosen), mask)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Any:
        """Select and combine from ``inputs`` (exactly ``n_candidates`` tensors)."""
        if len(inputs) != self.n_candidates:
            raise ValueError(f"{_name(self.key)}: got {len(inputs)} inputs, expected {self.n_candidates}")
        return self._path(inputs)

    def _decided_path(self) -> Callable:
        if len(self._decision) == 1 and self.reduction != "none":
            self._single = self._decision[0]
            return self._forward_single
        return self._forward_chosen

    def _forward_single(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return inputs[self._single]

    def _forward_chosen(self, inputs: Sequence[torch.Tensor]) -> Any:
        return combine([inputs[i] for i in self._decision], self.reduction)

    def _forward_mixed(self, inputs: Sequence[torch.Tensor]) -> Any:
        weights, active = self._mixer()
        indices = range(self.n_candidates) if active is None else active
        return combine([weights[i] * inputs[i] for i in indices], self.reduction)


def _derived_labels(candidates: Sequence[nn.Module]) -> list[str]:
    """Class names, told apart by kernel size where they repeat, else by position."""
    labels = [type(op).__name__ for op in candidates]
    if len(set(labels)) == len(labels):
        return labels
    sized = [
        f"{label}_{_kernel(op)}" if labels.count(label) > 1 and _kernel(op) else label
        for label, op in zip(labels, candidates)
    ]
    if len(set(sized)) == len(sized):
        return sized
    return [f"{label}#{i}" if sized.count(label) > 1 else label for i, label in enumerate(sized)]


def _kernel(op: nn.Module) -> str | None:
    size = getattr(op, "kernel_size", None)
    if isinstance(size, int):
        return f"{size}x{size}"
    if isinstance(size, tuple) and all(isinstance(k, int) for k in size):
        return "x".join(map(str, size))
    return None


class ValueSpace(_Space):
    """Choose one of ``candidates`` values (channels, kernel sizes, flags, ...).

    Searchable ops read :attr:`value`: the chosen candidate, or the largest one while the
    decision is open (the supernet holds the widest configuration; the first one when the
    candidates have no order).
    """

    def __init__(self, candidates: Sequence[Any], key: str | None = None, mask: Any = None) -> None:
        super().__init__()
        self.candidates = list(candidates)
        if not self.candidates:
            raise ValueError(f"{_name(key)}: ValueSpace needs at least one candidate")
        self.length = len(self.candidates)
        self.value = _widest(self.candidates)
        self.init_mutable(key, Categorical(self.length, labels=self.candidates), mask)

    def on_decision(self, decision: int | None) -> None:
        self.value = _widest(self.candidates) if decision is None else self.candidates[decision]

    def forward(self) -> Any:
        """The current value (so a ValueSpace can also be called like a module)."""
        return self.value


def _widest(candidates: list[Any]) -> Any:
    try:
        return max(candidates)
    except TypeError:  # e.g. None among strings
        return candidates[0]
