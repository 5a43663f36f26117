"""DARTS (Liu et al., 2019): the cell search network, genotypes and the evaluation network.

Names are imported on first use, so that importing the package costs nothing until then.
"""

import importlib

_MODULES = {
    "DartsNetwork": "search",
    "DartsEvalNetwork": "evaluation",
    "Genotype": "genotypes",
    "DARTS_V1": "genotypes",
    "DARTS_V2": "genotypes",
    "PRIMITIVES": "operations",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
