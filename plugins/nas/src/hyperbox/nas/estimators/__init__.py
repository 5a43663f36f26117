"""Estimators: callables ``estimator(model, data, context) -> {metric: number}``, one private module each.

Imported lazily so that ``from hyperbox.nas.estimators import ParamsEstimator`` loads only what it needs.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "AccuracyEstimator": "_accuracy",
        "ParamsEstimator": "_params",
        "FlopsEstimator": "_flops",
        "LatencyEstimator": "_latency",
        "evaluate": "_accuracy",
        "recalibrate_batchnorm": "_batchnorm",
        "plain_network": "_plain",
        "mark_shared_statistics": "_plain",
        "resolve_device": "_device",
    },
)
