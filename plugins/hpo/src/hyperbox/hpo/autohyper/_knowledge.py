"""The knowledge gain of convolution weights and autoHyper's low-rank metric (the *rank*).

As the reference code does it (github.com/MathieuTuli/autoHyper, branch ``master``,
``src/autohyper/metrics.py:Metrics``): only 4-D (convolution) weights are read, linear layers
are not. A weight ``(out, in, *kernel)`` is unfolded along its input channels (mode 3,
``in x out*k``) and its output channels (mode 4, ``out x in*k``); EVBMF separates each
unfolding's signal from noise, and the *knowledge gain* is ``sum(sigma_i / sigma_1) / L`` over the
retained singular values, ``L`` the unfolding's smaller side: 0 when the weights are
indistinguishable from noise (nothing learnt yet), up to 1 when every direction carries
information. The rank is the fraction of unfoldings with zero gain
(``src/autohyper/autoHyper.py:compute_rank``).

Where this departs from the reference: an unfolding with a side of 1 (the input unfolding of a
1-channel stem or of a depthwise convolution) has one singular value, which EVBMF can never
retain, so its gain is 0 whatever was learnt; the reference counts it, which puts a floor under
the rank. Here it is left out of the rank and named by :func:`noise_only_unfoldings`. The
reference factorises an unfolding with more rows than columns as it is; here it is transposed
first, as EVBMF is stated for ``L <= M``, which changes nothing for unfoldings that already are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hyperbox.hpo.autohyper._evbmf import evbmf

__all__ = ["knowledge_gain", "low_rank_metric", "noise_only_unfoldings", "score_trained"]

#: the two unfoldings of a convolution weight, in the reference's order (``metrics.py:evaluate``)
MODES = ("mode 3", "mode 4")


def _unfoldings(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_channels, in_channels = weight.shape[:2]
    return (
        np.moveaxis(weight, 1, 0).reshape(in_channels, -1),  # mode 3: input channels
        weight.reshape(out_channels, -1),  # mode 4: output channels
    )


def _gain(unfolding: np.ndarray) -> float:
    if not np.all(np.isfinite(unfolding)):  # a diverged trial: nothing to factorise (the reference scores 0)
        return 0.0
    singular = evbmf(unfolding).singular_values
    if len(singular) == 0:
        return 0.0
    return float(np.sum(singular / singular[0]) / min(unfolding.shape))


def _convolutions(model: Any) -> Iterable[tuple[str, np.ndarray]]:
    for name, parameter in model.named_parameters():
        if parameter.dim() == 4:
            yield name, parameter.detach().cpu().double().numpy()


def knowledge_gain(model: Any) -> dict[str, list[float]]:
    """``parameter name -> [gain of mode 3, gain of mode 4]`` for every convolution (4-D) weight.

    ``model`` is anything with ``named_parameters()`` (a torch module) whose values convert with
    ``.detach().cpu().numpy()``.
    """
    return {name: [_gain(unfolding) for unfolding in _unfoldings(weight)] for name, weight in _convolutions(model)}


def noise_only_unfoldings(model: Any) -> list[str]:
    """The unfoldings left out of the rank because a side of 1 can never leave noise, as
    ``"name mode 3 (1 x 144)"``."""
    return [
        f"{name} {mode} ({unfolding.shape[0]} x {unfolding.shape[1]})"
        for name, weight in _convolutions(model)
        for mode, unfolding in zip(MODES, _unfoldings(weight))
        if min(unfolding.shape) == 1
    ]


def low_rank_metric(model: Any) -> float:
    """The fraction of convolution unfoldings with zero knowledge gain: 1 for an untrained
    network, 0 when every layer has learnt something. autoHyper calls it the trial's *rank*."""
    gains = [
        _gain(unfolding)
        for _, weight in _convolutions(model)
        for unfolding in _unfoldings(weight)
        if min(unfolding.shape) > 1
    ]
    if not gains:
        raise ValueError("autoHyper's rank reads convolution (4-D) weights with 2 or more channels; the model has none")
    return float(np.mean(np.isclose(gains, 0.0)))


def score_trained(trained: Any, metric: Callable[[Any], float] = low_rank_metric) -> float:
    """The score of a short trial: ``metric`` of the trained model, or, when the trial returns the
    model after each epoch, its mean over the epochs (the reference's ``compute_rank`` averages
    over ``Metrics.historical_metrics``, one entry per epoch)."""
    if hasattr(trained, "named_parameters") or not isinstance(trained, Iterable):
        return float(metric(trained))
    return float(np.mean([metric(model) for model in trained]))
