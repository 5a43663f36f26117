"""The registered form of a seed's space function: the dataset's shape and classes fill its
``input_shape`` and ``output_units``; its other arguments stay as they are (and are checked)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def registered_space(space_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``space_fn`` called as ``factory(input_shape=..., num_classes=..., **its own arguments)``."""

    @functools.wraps(space_fn)
    def factory(input_shape: Any, num_classes: int, **options: Any) -> Any:
        return space_fn(input_shape=input_shape, output_units=num_classes, **options)

    own = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for name, parameter in inspect.signature(space_fn).parameters.items()
        if name not in ("input_shape", "output_units")
    ]
    shape = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("input_shape", "num_classes")
    ]
    factory.__signature__ = inspect.Signature(shape + own)
    factory.__doc__ = f"The registered form of ``{space_fn.__name__}``: the dataset's shape and classes fill it."
    return factory
