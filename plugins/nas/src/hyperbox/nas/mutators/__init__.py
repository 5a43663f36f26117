"""Search algorithms over the kernel's domains, one private module per algorithm.

Imported lazily so that ``from hyperbox.nas.mutators import RandomMutator`` loads only what it needs.
"""

import importlib

_MODULES = {
    "RandomMutator": "_random",
    "EvolutionMutator": "_evolution",
    "DartsMutator": "_darts",
    "GDASMutator": "_gdas",
    "ENASMutator": "_enas",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
