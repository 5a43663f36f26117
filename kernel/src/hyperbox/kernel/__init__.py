"""Hyperbox kernel: the plugin contract, the search vocabulary and the experiment runner.

Importing this package imports no torch, optuna or kornia.
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

__all__ = [
    "Categorical",
    "ConfigError",
    "FloatRange",
    "HyperboxError",
    "IntRange",
    "Mutable",
    "Mutator",
    "PluginError",
    "SearchSpace",
    "Subset",
    "TrialPruned",
    "UnknownComponentError",
    "find_mutables",
    "hookimpl",
    "hookspec",
    "load_arch",
    "save_arch",
    "__version__",
]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version

        return version("hyperbox-kernel")
    raise AttributeError(name)
