"""Hypernets' module combinators as PyTorch modules: ``Sequential``, ``Optional``, ``Or``,
``Permutation``, ``Repeat``, ``InputChoice``, and ``HyperSpace``, the root that knows the input shape.

A combinator that runs a part only under some decisions (the steps beyond a ``Repeat``'s depth,
a skipped ``Optional``, the modules an ``Or`` did not choose) says so through ``hyperbox_gates()``:
the decisions inside that part are then inactive (see :mod:`hyperbox.kernel.space`) -- not
trained, not shown, not part of an architecture's identity, and skipped by the mutators that can.
``build_subnet`` keeps only what runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.kernel.space import is_mutable
from hyperbox.nas.hyper.params import Bool, Choice
from hyperbox.nas.spaces import InputSpace, _derived_labels

__all__ = ["ConnectLooseEnd", "HyperSpace", "InputChoice", "Optional", "Or", "Permutation", "Repeat", "Sequential"]


def _named(kind: str, parameter: Any) -> str:
    key = getattr(parameter, "key", None)
    return f"{kind} {key!r}" if key else kind


def _relaxable(parameter: Choice) -> Choice:
    """Let darts and gdas mix the candidates ``parameter`` chooses between (see ``Or``)."""
    parameter.why_not_relaxed = None
    if not hasattr(parameter, "mixer"):
        parameter.mixer = None
    return parameter


def _not_relaxable(parameter: Choice, why: str) -> Choice:
    parameter.why_not_relaxed = why
    return parameter


def _mixed(parameter: Choice, outputs: Callable[[int], Any]) -> Any:
    """The sum of ``outputs(i)`` weighted by ``parameter``'s mixer, over the candidates it marks active."""
    weights, active = parameter.mixer()
    indices = range(len(parameter.candidates)) if active is None else active
    total = None
    for index in indices:
        term = weights[index] * outputs(index)
        total = term if total is None else total + term
    return total


def _decided(kind: str, parameter: Choice) -> int:
    if parameter.decision is None:
        raise ValueError(f"{_named(kind, parameter)}: no decision; sample an architecture with a mutator first")
    return parameter.decision


def _linked(output: Any, module: nn.Module, kind: str) -> Any:
    """``output`` of ``module`` in a chain: a dropped link (None) cannot feed the next module."""
    if output is None:
        raise ValueError(
            f"{kind}: {type(module).__name__} dropped its link (Optional with keep_link=False); only Add and "
            "Concatenate take a dropped link"
        )
    return output


class Sequential(nn.Module):
    """``modules`` one after the other."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(modules)

    def forward(self, x: Any) -> Any:
        for module in self.steps:
            x = _linked(module(x), module, "Sequential")
        return x

    def export_module(self) -> nn.Module:
        return nn.Sequential(*self.steps)


class Optional(nn.Module):
    """``module`` when ``hp_opt`` (default ``Bool()``) is true; otherwise the input passes through
    (``keep_link=True``) or the link is dropped (``None``: only ``Add`` and ``Concatenate``, which
    leave it out, take a dropped link)."""

    def __init__(self, module: nn.Module, keep_link: bool = True, hp_opt: Choice | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise ValueError(f"Optional: module must be a torch module, got {module!r}")
        super().__init__()
        self.hp_opt = _relaxable(Bool() if hp_opt is None else hp_opt)
        self.module = module
        self.keep_link = keep_link
        self._on = frozenset(i for i, option in enumerate(self.hp_opt.candidates) if option)

    def hyperbox_gates(self) -> Iterator[tuple[nn.Module, Choice, frozenset]]:
        yield self.module, self.hp_opt, self._on

    def forward(self, x: Any) -> Any:
        if self.hp_opt.mixer is not None:  # darts, gdas: the block and its bypass, weighted
            return _mixed(self.hp_opt, lambda i: self.module(x) if i in self._on else self._bypass(x))
        if _decided("Optional", self.hp_opt) in self._on:
            return self.module(x)
        return x if self.keep_link else None

    def _bypass(self, x: Any) -> Any:
        return x if self.keep_link else 0.0

    def export_module(self) -> nn.Module:
        if self.hp_opt.decision in self._on:
            return nn.Sequential(self.module)
        return nn.Identity() if self.keep_link else _Dropped()


class _Dropped(nn.Module):
    """The exported form of an ``Optional`` without its link."""

    def forward(self, x: Any) -> None:
        return None


class Or(nn.Module):
    """One of ``modules``, chosen by ``hp_or``: a ``Choice`` with one option per module (its
    options may be the indices, as in Hypernets; default: the modules' class names)."""

    def __init__(self, modules: Sequence[nn.Module], hp_or: Choice | None = None) -> None:
        super().__init__()
        modules = list(modules)
        if not modules:
            raise ValueError(f"{_named('Or', hp_or)}: no modules; give at least one")
        self.hp_or = _relaxable(Choice(_derived_labels(modules)) if hp_or is None else hp_or)
        if len(self.hp_or.candidates) != len(modules):
            raise ValueError(
                f"{_named('Or', self.hp_or)}: hp_or has {len(self.hp_or.candidates)} options for {len(modules)} modules"
            )
        self.choices = nn.ModuleList(modules)

    def hyperbox_gates(self) -> Iterator[tuple[nn.Module, Choice, frozenset]]:
        for index, module in enumerate(self.choices):
            yield module, self.hp_or, frozenset({index})

    def forward(self, *args: Any) -> Any:
        if self.hp_or.mixer is not None:  # darts, gdas: the candidates, weighted
            return _mixed(self.hp_or, lambda i: self.choices[i](*args))
        return self.choices[_decided("Or", self.hp_or)](*args)

    def export_module(self) -> nn.Module:
        return nn.Sequential(self.choices[_decided("Or", self.hp_or)])


class Permutation(nn.Module):
    """``modules`` in the order ``hp_seq`` chooses (default: any order), one after the other."""

    def __init__(self, modules: Sequence[nn.Module], hp_seq: Choice | None = None) -> None:
        super().__init__()
        modules = list(modules)
        if not modules:
            raise ValueError(f"{_named('Permutation', hp_seq)}: no modules; give at least one")
        self.hp_seq = Choice(list(itertools.permutations(range(len(modules))))) if hp_seq is None else hp_seq
        _not_relaxable(self.hp_seq, "it orders a Permutation, which no weighting relaxes")
        for order in self.hp_seq.candidates:
            if sorted(order) != list(range(len(modules))):
                raise ValueError(
                    f"{_named('Permutation', self.hp_seq)}: option {order!r} is not an order of "
                    f"the {len(modules)} modules"
                )
        self.parts = nn.ModuleList(modules)

    def order(self) -> tuple[int, ...]:
        return tuple(self.hp_seq.candidates[_decided("Permutation", self.hp_seq)])

    def forward(self, x: Any) -> Any:
        order = self.order()
        for index in order:
            part = self.parts[index]
            try:
                x = _linked(part(x), part, "Permutation")
            except (RuntimeError, ValueError) as error:
                first = str(error).splitlines()[0]
                if "out of memory" in first:
                    raise
                raise ValueError(
                    f"{_named('Permutation', self.hp_seq)}: in order {list(order)}, module {index} "
                    f"({type(part).__name__}) cannot take the output of the one before it: {first}"
                ) from error
        return x

    def export_module(self) -> nn.Module:
        return nn.Sequential(*(self.parts[i] for i in self.order()))


class Repeat(nn.Module):
    """``module_fn(step)`` for ``step = 0, 1, ...``, as many times as ``hp_repeat`` chooses among
    ``repeat_num_choices``; the steps beyond the chosen number are inactive."""

    def __init__(
        self,
        module_fn: Callable[[int], nn.Module],
        repeat_num_choices: Sequence[int],
        hp_repeat: Choice | None = None,
    ) -> None:
        super().__init__()
        if not callable(module_fn) or isinstance(module_fn, nn.Module):
            raise ValueError(f"Repeat: module_fn must be a function of the step returning a module, got {module_fn!r}")
        choices = list(repeat_num_choices)
        if not choices or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in choices):
            raise ValueError(f"Repeat: repeat_num_choices {choices!r} must be positive integers")
        self.hp_repeat = Choice(choices) if hp_repeat is None else hp_repeat
        _not_relaxable(self.hp_repeat, "it is the depth of a Repeat, which no weighting relaxes")
        if list(self.hp_repeat.candidates) != choices:
            raise ValueError(
                f"{_named('Repeat', self.hp_repeat)}: hp_repeat's options {self.hp_repeat.candidates} "
                f"differ from repeat_num_choices {choices}"
            )
        self.steps = nn.ModuleList(module_fn(step) for step in range(max(choices)))

    def hyperbox_gates(self) -> Iterator[tuple[nn.Module, Choice, frozenset]]:
        counts = self.hp_repeat.candidates
        for step, module in enumerate(self.steps):
            if step >= min(counts):
                yield module, self.hp_repeat, frozenset(i for i, count in enumerate(counts) if count > step)

    def depth(self) -> int:
        return self.hp_repeat.candidates[_decided("Repeat", self.hp_repeat)]

    def forward(self, x: Any) -> Any:
        for module in self.steps[: self.depth()]:
            x = _linked(module(x), module, "Repeat")
        return x

    def export_module(self) -> nn.Module:
        return nn.Sequential(*self.steps[: self.depth()])


class InputChoice(InputSpace):
    """``n`` of ``inputs`` (a count, or the list of candidate inputs), combined by ``reduction``
    (``sum``; ``concat``; ``none`` for the list)."""

    def __init__(
        self, inputs: int | Sequence[Any], n: int = 1, key: str | None = None, mask: Any = None, reduction: str = "sum"
    ) -> None:
        count = inputs if isinstance(inputs, int) else len(inputs)
        super().__init__(count, n, key=key, mask=mask, reduction=reduction)


class ConnectLooseEnd(nn.Module):
    """The loose ends of a cell: of the last ``n_nodes`` of the states it is called with (a cell's
    inputs, then its nodes), those that no input choice of ``choices`` takes, in order -- the
    outputs nothing else consumes (ENAS' micro cell concatenates them)."""

    def __init__(self, choices: Sequence[InputSpace], n_nodes: int) -> None:
        super().__init__()
        self._choices = list(choices)  # registered where they sit; read here
        self.n_nodes = n_nodes

    def _used(self) -> set[int]:
        """The states the input choices take."""
        used = set()
        for choice in self._choices:
            if choice.decision is None:
                raise ValueError(f"ConnectLooseEnd: input choice {choice.key!r} has no decision")
            used.update(choice.decision)
        return used

    def forward(self, states: Sequence[Any]) -> list[Any]:
        if any(getattr(choice, "mixer", None) is not None for choice in self._choices):
            return list(states[len(states) - self.n_nodes :])  # darts, gdas: every node, for every choice
        return _loose_ends(states, self._used(), self.n_nodes)

    def export_module(self) -> nn.Module:
        return _PickStates(self._used(), self.n_nodes)


class _PickStates(nn.Module):
    """The exported form of ``ConnectLooseEnd``: the last ``n_nodes`` states but the ``used`` ones."""

    def __init__(self, used: set[int], n_nodes: int) -> None:
        super().__init__()
        self.used, self.n_nodes = used, n_nodes

    def forward(self, states: Sequence[Any]) -> list[Any]:
        return _loose_ends(states, self.used, self.n_nodes)


def _loose_ends(states: Sequence[Any], used: set[int], n_nodes: int) -> list[Any]:
    """The last ``n_nodes`` of ``states`` that are not ``used``, in order."""
    return [states[i] for i in range(len(states) - n_nodes, len(states)) if i not in used]


class HyperSpace(nn.Module):
    """The root of a space: ``module`` on inputs of ``input_shape`` (without the batch dimension,
    ``(C, H, W)`` for images). Knowing the input shape, it builds a chosen architecture's layers
    when ``build_subnet`` exports it.

    Parameters without a key are named after the first module that takes them, as Hypernets
    names them: ``Dense_3.units`` is the ``units`` of the third ``Dense`` (counted in module order),
    ``Repeat_1.hp_repeat`` the depth of the first ``Repeat``, ``fc1.units`` that of the layer
    named ``fc1``.
    """

    def __init__(self, module: nn.Module, input_shape: int | Sequence[int]) -> None:
        super().__init__()
        self.input_shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        if not self.input_shape or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.input_shape
        ):
            raise ValueError(f"HyperSpace: input_shape {input_shape!r} must be positive integers")
        self.module = module
        _name_parameters(self)

    def forward(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor) and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"HyperSpace: input of shape {tuple(x.shape[1:])} (without the batch), expected {self.input_shape} "
                "(images are PyTorch's (C, H, W), not Keras' (H, W, C))"
            )
        return self.module(x)

    #: its layers are built for each architecture, so no two architectures share weights (one-shot
    #: training refuses it; darts builds every candidate of its relaxed choices with materialize())
    builds_per_architecture = True

    def materialize(self) -> None:
        """Run the space once on a dummy batch (in eval mode, without gradients), so that every layer
        of the current architecture -- in a differentiable search, of every mixed candidate -- is built."""
        training = self.training
        self.eval()
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        with torch.no_grad():
            self.module(torch.zeros(2, *self.input_shape, device=device))
        self.train(training)

    def export_module(self) -> nn.Module:
        """The decided architecture's layers, built by :meth:`materialize`."""
        self.materialize()
        return nn.Sequential(self.module)


def _name_parameters(root: nn.Module) -> None:
    """Key each parameter without one after the first module that takes it (see ``HyperSpace``)."""
    counts: dict[str, int] = {}
    names: dict[str, nn.Module] = {}
    for module in root.modules():
        if is_mutable(module):
            continue
        kind = type(module).__name__
        counts[kind] = counts.get(kind, 0) + 1
        name = getattr(module, "layer_name", None)
        if name is not None and names.setdefault(name, module) is not module:
            raise ValueError(f"HyperSpace: two layers are named {name!r}; a name keys one layer's parameters")
        label = name or f"{kind}_{counts[kind]}"
        for attribute, child in module.named_children():
            if is_mutable(child) and child.key is None:
                child.key = f"{label}.{attribute}"
