"""What every searchable op shares: reading ``ValueSpace`` arguments, sizing the shared weight, caching.

Sizing rule (one weight per op, allocated once):

- while any ``ValueSpace`` of the op is still undecided (``mask=None``), every searchable size is
  allocated at its largest candidate -- the op is part of a supernet and slices that weight;
- when *all* of its ``ValueSpace`` arguments were decided at construction, the op is a fixed
  subnet layer and is allocated at exactly the chosen sizes (the seed's ``parameters()`` shapes).

A decision made later that needs more than was allocated raises a ``ValueError`` naming the key.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hyperbox.nas.spaces import ValueSpace

__all__ = ["SearchableOp", "copy_into", "current", "describe", "is_space", "sliced"]


def is_space(argument: Any) -> bool:
    return isinstance(argument, ValueSpace)


def current(argument: Any) -> Any:
    """The value an argument has now: a ``ValueSpace``'s chosen candidate, or the argument itself."""
    return argument.value if isinstance(argument, ValueSpace) else argument


def describe(argument: Any) -> str:
    """An argument for ``repr``: a space shows its key and candidates."""
    if is_space(argument):
        return f"ValueSpace({argument.key!r}, {list(argument.candidates)})"
    return repr(argument)


def _spaces_in(arguments: tuple) -> list:
    found: list = []
    for argument in arguments:
        if isinstance(argument, (tuple, list)):
            found.extend(_spaces_in(tuple(argument)))
        elif is_space(argument) and all(argument is not known for known in found):
            found.append(argument)
    return found


def sliced(tensor: torch.Tensor | None, index: Any) -> torch.Tensor | None:
    """A view of the active part of ``tensor`` (``index`` None: all of it; ``tensor`` None: absent)."""
    return tensor if tensor is None or index is None else tensor[index]


def copy_into(target: torch.Tensor | None, source: torch.Tensor | None) -> None:
    """Copy an active slice into an exported module's tensor (both may be absent, e.g. no bias)."""
    if target is not None:
        with torch.no_grad():
            target.copy_(source)


class SearchableOp(nn.Module):
    """Base of the searchable ops: one shared weight, sliced to the sizes the ``ValueSpace`` arguments choose.

    A subclass passes its constructor arguments to ``__init__`` (to find the spaces), allocates its
    weights with :meth:`allocated`, implements :meth:`configure` (the active sizes, validated) and
    :meth:`export_module` (a plain torch module for the current decisions).

    The configuration is recomputed only when a space's value changes, so ``forward`` costs one
    tuple comparison on top of the torch call it makes.
    """

    def __init__(self, *arguments: Any) -> None:
        super().__init__()
        spaces = _spaces_in(arguments)
        self._spaces = tuple(spaces)  # a tuple is not registered: the spaces are registered by the subclass attributes
        self._sized_exactly = bool(spaces) and all(space.decision is not None for space in spaces)
        self._signature: tuple | None = None
        self._config: Any = None

    def allocated(self, argument: Any) -> Any:
        """Size to allocate for an argument: its value for a fixed subnet layer, else its largest candidate."""
        if not is_space(argument):
            return argument
        return argument.value if self._sized_exactly else max(argument.candidates)

    def smallest(self, argument: Any) -> Any:
        """The smallest value an argument can take (its fixed value for a fixed subnet layer)."""
        if not is_space(argument):
            return argument
        return argument.value if self._sized_exactly else min(argument.candidates)

    def active(self) -> Any:
        """The current configuration, recomputed only after a decision changed."""
        signature = tuple([space.value for space in self._spaces])
        if signature != self._signature:
            self._config = self.configure()
            self._signature = signature
        return self._config

    def configure(self) -> Any:
        raise NotImplementedError

    def export_module(self) -> nn.Module:
        raise NotImplementedError

    def fitted(self, argument: Any, limit: int, what: str) -> int:
        """The current value of ``argument``, or a ValueError naming its key if the weight is too small for it."""
        value = current(argument)
        if value > limit:
            key = argument.key if is_space(argument) else None
            raise ValueError(
                f"{type(self).__name__}: ValueSpace {key!r} chose {what} = {value}, but the weight was "
                f"allocated for at most {limit}; build the op with a space whose candidates include it"
            )
        return value
