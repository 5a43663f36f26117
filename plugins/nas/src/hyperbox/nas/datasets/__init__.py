"""Datasets: in-memory train/val/test splits read from disk or generated, one private module per source.

Imported lazily so that ``from hyperbox.nas.datasets import digits`` loads only what it needs.
Nothing here downloads: readers take a ``root`` the user already filled.
"""

import importlib

_MODULES = {
    "DataSplits": "_splits",
    "digits": "_digits",
    "mnist": "_idx",
    "fashion_mnist": "_idx",
    "cifar10": "_cifar",
    "image_folder": "_image_folder",
    "synthetic": "_synthetic",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
