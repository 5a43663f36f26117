"""NAS-Bench-201 (Dong & Yang, 2020): the cell search space, its network and architecture strings.

Names are imported on first use, so that importing the package costs nothing until then.
"""

import importlib

_MODULES = {
    "NB201Network": "network",
    "OPERATIONS": "operations",
    "arch_from_string": "archstring",
    "arch_to_string": "archstring",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
