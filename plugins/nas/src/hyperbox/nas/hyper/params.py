"""Hypernets' parameter spaces: ``Choice``, ``MultipleChoice``, ``Bool``, ``Int``, ``Real``,
``Constant`` and ``Dynamic``.

Each searchable parameter is a kernel mutable (so every mutator searches it) and a module without
weights, so that the layers and blocks that take it as an argument register it: unless it is
given a key, ``HyperSpace`` names it after the first module that takes it (``Dense_2.units``),
which is stable across two builds of a space. Every parameter has a ``value``: the chosen one, or while undecided
the largest (what a supernet is allocated for). ``Constant`` and ``Dynamic`` are values, never
decisions of their own: a ``Dynamic`` computes its value from other parameters.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from hyperbox.kernel import Categorical, FloatRange, IntRange, Mutable, Subset
from hyperbox.nas.spaces import ValueSpace
from hyperbox.nas.subnet import FixedValue

__all__ = ["Bool", "Choice", "Constant", "Dynamic", "Int", "MultipleChoice", "Real", "value_of"]


def value_of(argument: Any) -> Any:
    """The value ``argument`` stands for now: a parameter's value, or the argument itself."""
    parameters = (ValueSpace, _Parameter, MultipleChoice, Constant, Dynamic)
    return argument.value if isinstance(argument, parameters) else argument


def _named(kind: str, key: str | None) -> str:
    return f"{kind} {key!r}" if key else kind


class Choice(ValueSpace):
    """One of ``options`` (any values: numbers, strings, tuples, None)."""

    #: why a differentiable search (darts, gdas) cannot relax this choice; None where it can (the
    #: choices of ``Or`` and ``Optional``, which then mix their candidates through ``mixer``)
    why_not_relaxed: str | None = "it is a layer argument, and a layer built for each value shares no weights"

    def __init__(self, options: Sequence[Any], key: str | None = None, mask: Any = None) -> None:
        options = list(options)
        if not options:
            raise ValueError(f"{_named('Choice', key)}: no options; give at least one")
        super().__init__(options, key=key, mask=mask)

    @property
    def options(self) -> list[Any]:
        return self.candidates


class Bool(Choice):
    """``False`` or ``True``."""

    def __init__(self, key: str | None = None, mask: Any = None) -> None:
        super().__init__([False, True], key=key, mask=mask)


class _Parameter(nn.Module, Mutable):
    """A numeric parameter over a range (no list of candidates)."""

    def __init__(self, key: str | None, domain: Any, mask: Any = None) -> None:
        super().__init__()
        self.init_mutable(key, domain, mask)

    @property
    def value(self) -> Any:
        return self.domain.high if self.decision is None else self.decision

    def forward(self) -> Any:
        return self.value

    def extra_repr(self) -> str:
        return f"key={self.key!r}, {self.domain.describe()}, decision={self.decision!r}"


class Int(_Parameter):
    """An integer in ``[low, high]`` (both included) on a grid of ``step``."""

    def __init__(self, low: int, high: int, step: int = 1, key: str | None = None, mask: Any = None) -> None:
        where = _named("Int", key)
        for name, number in (("low", low), ("high", high), ("step", step)):
            if isinstance(number, bool) or not isinstance(number, int):
                raise ValueError(f"{where}({low!r}, {high!r}): {name} must be an integer, got {number!r}")
        if high < low:
            raise ValueError(f"{where}({low}, {high}): high {high} is below low {low}")
        if step < 1:
            raise ValueError(f"{where}({low}, {high}): step must be at least 1, got {step}")
        super().__init__(key, IntRange(low, high, step), mask)


class Real(_Parameter):
    """A real number in ``[low, high]``: continuous (on a log scale with ``log=True``), or on a grid
    of ``step``, a choice among its points as Hypernets draws it (``Real(0.0, 0.5, step=0.1)``)."""

    def __init__(
        self,
        low: float,
        high: float,
        step: float | None = None,
        log: bool = False,
        key: str | None = None,
        mask: Any = None,
    ) -> None:
        where = _check_range(low, high, log, key)
        self.low, self.high, self.step, self.log = float(low), float(high), step, log
        if step is None:
            super().__init__(key, FloatRange(low, high, log=log), mask)
            return
        if log:
            raise ValueError(f"{where}: log=True and a step cannot be combined; give one of them")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
            raise ValueError(f"{where}: step must be a positive number, got {step!r}")
        count = math.floor((high - low) / step + 1e-9) + 1
        #: the grid's points, by decision
        self.points = [round(low + i * step, 12) for i in range(count)]
        super().__init__(key, Categorical(count, labels=self.points), mask)

    @property
    def value(self) -> float:
        if self.step is None:
            return super().value
        return self.points[-1 if self.decision is None else self.decision]


def _check_range(low: Any, high: Any, log: bool, key: str | None) -> str:
    where = f"{_named('Real', key)}({low!r}, {high!r})"
    for name, number in (("low", low), ("high", high)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"{where}: {name} must be a finite number, got {number!r}")
    if high < low:
        raise ValueError(f"{where}: high {high} is below low {low}")
    if log and low <= 0:
        raise ValueError(f"{where}: log=True needs low > 0, got {low}")
    return where


class MultipleChoice(nn.Module, Mutable):
    """Between one and ``num_chosen_most`` of ``options`` (any number of them when None); its
    ``value`` is the list of the chosen options, in their order."""

    def __init__(
        self, options: Sequence[Any], num_chosen_most: int | None = None, key: str | None = None, mask: Any = None
    ) -> None:
        super().__init__()
        self.options = list(options)
        where = _named("MultipleChoice", key)
        if not self.options:
            raise ValueError(f"{where}: no options; give at least one")
        if num_chosen_most is not None and (
            isinstance(num_chosen_most, bool)
            or not isinstance(num_chosen_most, int)
            or not 1 <= num_chosen_most <= len(self.options)
        ):
            raise ValueError(
                f"{where}: num_chosen_most={num_chosen_most!r} must be between 1 and the {len(self.options)} options"
            )
        self.num_chosen_most = num_chosen_most
        self.init_mutable(key, Subset(len(self.options), labels=self.options, most=num_chosen_most), mask)

    @property
    def value(self) -> list[Any]:
        """The chosen options (while undecided, as many as may be chosen, the first ones)."""
        chosen = range(self.num_chosen_most or len(self.options)) if self.decision is None else self.decision
        return [self.options[i] for i in chosen]

    def forward(self) -> list[Any]:
        return self.value

    def extra_repr(self) -> str:
        return f"key={self.key!r}, {self.domain.describe()}, decision={self.decision!r}"


class Constant(FixedValue):
    """A fixed value where a parameter is expected (never searched)."""


class Dynamic(nn.Module):
    """A value computed by ``lambda_fn`` from the values of the parameters ``params`` names:
    ``Dynamic(lambda units, factor: units * factor, units=hp_units, factor=hp_factor)``."""

    def __init__(self, lambda_fn: Callable[..., Any], **params: Any) -> None:
        super().__init__()
        if not callable(lambda_fn):
            raise ValueError(f"Dynamic: lambda_fn must be a function, got {lambda_fn!r}")
        try:
            signature = inspect.signature(lambda_fn)
            signature.bind(**params)
        except TypeError as error:
            wanted = ", ".join(inspect.signature(lambda_fn).parameters) if _has_signature(lambda_fn) else "?"
            given = ", ".join(params) or "none"
            raise ValueError(
                f"Dynamic: lambda_fn({wanted}) cannot take the parameters given ({given}): {error}"
            ) from None
        except ValueError:  # a builtin without a signature: checked when first called
            pass
        self.lambda_fn = lambda_fn
        self._params = dict(params)
        for name, param in params.items():
            if isinstance(param, nn.Module):
                self.add_module(name, param)

    @property
    def value(self) -> Any:
        return self.lambda_fn(**{name: value_of(param) for name, param in self._params.items()})

    def forward(self) -> Any:
        return self.value

    def extra_repr(self) -> str:
        return f"params={list(self._params)}"


def _has_signature(function: Callable) -> bool:
    try:
        inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return True
