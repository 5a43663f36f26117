"""Hyperbox networks: OFA MobileNetV3, DARTS, NAS-Bench-201 and transformer search spaces.

Names are imported on first use, so that loading the plugin's registration imports no torch.
"""

import importlib

_MODULES = {
    "BaseNASNetwork": "base",
    "OFAMobileNetV3": "ofa",
    "DartsNetwork": "darts",
    "DartsEvalNetwork": "darts",
    "NB201Network": "nb201",
    "VisionTransformerSpace": "vit",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
