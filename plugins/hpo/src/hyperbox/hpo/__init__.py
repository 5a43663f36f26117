"""Hyperbox HPO: Optuna-driven search of any space, hyper-parameter spaces and autoHyper.

Names are imported on first use so that importing the package (as the plugin entry point does)
imports neither Optuna nor torch.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "OptunaMutator": "mutator",
        "AutoHyper": "autohyper",
        "tune_lr": "autohyper",
    },
)
