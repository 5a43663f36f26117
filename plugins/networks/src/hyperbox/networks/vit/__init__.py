"""A vision transformer search space with AutoFormer-style weight sharing.

Names are imported on first use, so that importing the package costs nothing until then.
"""

import importlib

_MODULES = {"VisionTransformerSpace": "network"}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
