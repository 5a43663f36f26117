"""Trainers: ``trial(model, arch, data, context)`` and optionally ``fit(model, mutator, data, context)``.

One private module per trainer, imported lazily so that ``from hyperbox.nas.trainers import
StandaloneTrainer`` loads only what it needs.
"""

import importlib

_MODULES = {
    "StandaloneTrainer": "_standalone",
    "OneShotTrainer": "_oneshot",
    "DartsTrainer": "_darts",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
