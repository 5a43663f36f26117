"""Estimators: callables ``estimator(model, data, context) -> {metric: number}``, one private module each.

Imported lazily so that ``from hyperbox.nas.estimators import ParamsEstimator`` loads only what it needs.
"""

import importlib

_MODULES = {
    "AccuracyEstimator": "_accuracy",
    "ParamsEstimator": "_params",
    "FlopsEstimator": "_flops",
    "LatencyEstimator": "_latency",
    "evaluate": "_accuracy",
    "recalibrate_batchnorm": "_batchnorm",
    "plain_network": "_plain",
    "resolve_device": "_device",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
