"""Hyperbox kernel: the plugin contract, the search vocabulary and the search engine.

Importing this package imports no torch, optuna or kornia; the engine's names (``Search``,
``search``, ...) are imported on first use.
"""

from hyperbox.kernel.errors import ConfigError, HyperboxError, PluginError, TrialPruned, UnknownComponentError
from hyperbox.kernel.hookspecs import hookimpl, hookspec
from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import (
    Categorical,
    FloatRange,
    IntRange,
    Mutable,
    SearchSpace,
    Subset,
    find_mutables,
    load_arch,
    save_arch,
)

_LAZY = {
    "Search": "hyperbox.kernel.engine",
    "SearchResult": "hyperbox.kernel.engine",
    "SearchWarning": "hyperbox.kernel.engine",
    "search": "hyperbox.kernel.engine",
    "Trial": "hyperbox.kernel.trial",
    "TrialRecord": "hyperbox.kernel.trial",
    "Context": "hyperbox.kernel.context",
    "RunInfo": "hyperbox.kernel.context",
    "HyperParameters": "hyperbox.kernel.hparams",
}

__all__ = [
    "Categorical",
    "ConfigError",
    "Context",
    "FloatRange",
    "HyperParameters",
    "HyperboxError",
    "IntRange",
    "Mutable",
    "Mutator",
    "PluginError",
    "RunInfo",
    "Search",
    "SearchResult",
    "SearchSpace",
    "SearchWarning",
    "Subset",
    "Trial",
    "TrialPruned",
    "TrialRecord",
    "UnknownComponentError",
    "find_mutables",
    "hookimpl",
    "hookspec",
    "load_arch",
    "save_arch",
    "search",
    "__version__",
]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version

        return version("hyperbox-kernel")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
