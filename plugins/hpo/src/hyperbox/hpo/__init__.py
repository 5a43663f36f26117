"""Hyperbox HPO: Optuna-driven search of any space, hyper-parameter spaces and autoHyper.

Names are imported on first use so that importing the package (as the plugin entry point does)
imports neither Optuna nor torch.
"""

from importlib import import_module

_EXPORTS = {
    "OptunaMutator": "hyperbox.hpo.mutator",
    "AutoHyper": "hyperbox.hpo.autohyper",
    "tune_lr": "hyperbox.hpo.autohyper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hyperbox.hpo' has no attribute {name!r}")
