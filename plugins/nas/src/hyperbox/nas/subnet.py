"""Cut one architecture out of a supernet as a plain PyTorch model that keeps the supernet's weights."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import SearchSpace, load_arch
from hyperbox.kernel.space import ATTACHED, is_mutable
from hyperbox.nas.spaces import InputSpace, OperationSpace, ValueSpace, combine

__all__ = ["build_subnet", "SelectInputs", "FixedValue"]


class SelectInputs(nn.Module):
    """The exported form of an :class:`InputSpace`: picks ``chosen`` of the inputs and combines them."""

    def __init__(self, n_candidates: int, chosen: Sequence[int], reduction: str = "sum") -> None:
        super().__init__()
        self.n_candidates = n_candidates
        self.chosen = tuple(chosen)
        self.reduction = reduction

    def forward(self, inputs: Sequence[torch.Tensor]) -> Any:
        """Same contract as the InputSpace it replaces: one list holding every candidate input."""
        if len(inputs) != self.n_candidates:
            raise ValueError(f"SelectInputs: got {len(inputs)} inputs, expected {self.n_candidates}")
        if len(self.chosen) == 1 and self.reduction != "none":
            return inputs[self.chosen[0]]
        return combine([inputs[i] for i in self.chosen], self.reduction)

    def extra_repr(self) -> str:
        return f"chosen={self.chosen}, reduction={self.reduction!r}"


class FixedValue(nn.Module):
    """The exported form of a :class:`ValueSpace`: code that reads ``.value`` keeps working."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value

    def forward(self) -> Any:
        """The frozen value."""
        return self.value

    def extra_repr(self) -> str:
        return f"value={self.value!r}"


def build_subnet(model: nn.Module, arch: Mapping[str, Any] | str | None = None) -> nn.Module:
    """A deep copy of ``model`` reduced to one architecture, with no mutables left.

    Args:
        model: the supernet; it is left unchanged.
        arch: ``{key: decision}``, a JSON architecture file, or ``None`` for the current
            decisions. Unknown or missing keys are a ``ValueError`` naming them.

    Chosen ``OperationSpace`` candidates take the space's place, an ``InputSpace`` becomes a
    :class:`SelectInputs`, a ``ValueSpace`` a :class:`FixedValue`, and any module with an
    ``export_module()`` method (searchable ops) is replaced by what that method returns.
    """
    # Mixers point at a mutator's parameters: the copy must not drag the mutator along.
    memo = {id(m.mixer): None for m in model.modules() if getattr(m, "mixer", None) is not None}
    subnet = copy.deepcopy(model, memo)
    space = SearchSpace.of(subnet)
    if arch is not None:
        space.apply(load_arch(arch))
    else:
        undecided = sorted(key for key in space if any(m.decision is None for m in space.mutables(key)))
        if undecided:
            raise ValueError(f"build_subnet: key(s) {undecided} have no decision; pass an architecture")
    subnet = _export(subnet, {})
    subnet.__dict__.pop(ATTACHED, None)  # attached hyper-parameters are decided: the subnet is plain
    leftover = sorted({m.key for m in subnet.modules() if is_mutable(m)})
    if leftover:
        raise ValueError(f"build_subnet: mutable(s) {leftover} have no export_module(); cannot build a plain model")
    return subnet


def _export(module: nn.Module, done: dict[int, nn.Module]) -> nn.Module:
    """The plain replacement of ``module``; ``done`` keeps modules shared by several parents shared."""
    if id(module) in done:
        return done[id(module)]
    if isinstance(module, OperationSpace):
        result = _export(module.candidates[module.decision], done)
    elif isinstance(module, InputSpace):
        result = SelectInputs(module.n_candidates, module.decision, module.reduction)
    elif isinstance(module, ValueSpace):
        result = FixedValue(module.value)
    else:
        # export_module() reads its ValueSpaces, so it runs before its children are replaced.
        result = module.export_module() if hasattr(module, "export_module") else module
        for name, child in list(result._modules.items()):
            if child is not None:
                result._modules[name] = _export(child, done)
    done[id(module)] = result
    return result
