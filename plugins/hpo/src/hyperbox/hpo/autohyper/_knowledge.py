"""The knowledge gain of a network's weights and autoHyper's low-rank metric.

A convolution weight ``(out, in, *kernel)`` is unfolded along its input channels (mode 3,
``in x out*k``) and its output channels (mode 4, ``out x in*k``); a linear weight is its own
single unfolding. EVBMF separates each unfolding's signal from noise; the *knowledge gain* is
``sum(sigma_i / sigma_1) / min(rows, cols)`` over the retained singular values: 0 when the
weights are indistinguishable from noise (nothing learnt yet), up to 1 when every direction
carries information.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hyperbox.hpo.autohyper._evbmf import evbmf

__all__ = ["knowledge_gain", "low_rank_metric", "score_trained"]


def _unfoldings(weight: np.ndarray) -> list[np.ndarray]:
    if weight.ndim == 2:
        return [weight]
    out_channels, in_channels = weight.shape[:2]
    return [
        np.moveaxis(weight, 1, 0).reshape(in_channels, -1),  # mode 3: input channels
        weight.reshape(out_channels, -1),  # mode 4: output channels
    ]


def _gain(unfolding: np.ndarray) -> float:
    singular = evbmf(unfolding).singular_values
    if len(singular) == 0:
        return 0.0
    return float(np.sum(singular / singular[0]) / min(unfolding.shape))


def knowledge_gain(model: Any) -> dict[str, list[float]]:
    """``parameter name -> knowledge gain of each unfolding`` for every weight of 2 or more dims.

    ``model`` is anything with ``named_parameters()`` (a torch module) whose values convert with
    ``.detach().cpu().numpy()``.
    """
    gains = {}
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2:
            weight = parameter.detach().cpu().double().numpy()
            gains[name] = [_gain(unfolding) for unfolding in _unfoldings(weight)]
    return gains


def low_rank_metric(model: Any) -> float:
    """The fraction of unfoldings with zero knowledge gain: 1 for an untrained network, 0 when
    every layer has learnt something. autoHyper calls it the trial's *rank*."""
    gains = [gain for layer in knowledge_gain(model).values() for gain in layer]
    if not gains:
        raise ValueError("the model has no convolution or linear weights to measure")
    return float(np.mean(np.isclose(gains, 0.0)))


def score_trained(trained: Any, metric: Callable[[Any], float] = low_rank_metric) -> float:
    """The score of a short trial's result: ``metric`` of the trained model, or its mean over the
    epoch snapshots when the trial returns several models."""
    if hasattr(trained, "named_parameters") or not isinstance(trained, Iterable):
        return float(metric(trained))
    return float(np.mean([metric(model) for model in trained]))
