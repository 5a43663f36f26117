"""The knowledge gain of convolution weights and autoHyper's low-rank metric (the *rank*).

As the reference code does it (github.com/MathieuTuli/autoHyper, branch ``master``,
``src/autohyper/metrics.py:Metrics``): only 4-D (convolution) weights are read, linear layers
are not. A weight ``(out, in, *kernel)`` is unfolded along its input channels (mode 3,
``in x out*k``) and its output channels (mode 4, ``out x in*k``); EVBMF separates each
unfolding's signal from noise, and the *knowledge gain* is ``sum(sigma_i / sigma_1) / L`` over the
retained singular values, ``L`` the unfolding's rows (its channels): 0 when the weights are
indistinguishable from noise (nothing learnt yet), up to 1 when every direction carries
information. The rank is the fraction of unfoldings with zero gain
(``src/autohyper/autoHyper.py:compute_rank``).

Where this departs from the reference: an unfolding with a side of 1 (the input unfolding of a
1-channel stem or of a depthwise convolution) has one singular value, which EVBMF can never
retain, so its gain is 0 whatever was learnt; the reference counts it, which puts a floor under
the rank. Here it is left out of the rank and named by :func:`noise_only_unfoldings`.

As the reference, an unfolding with more rows than columns (a 1x1 convolution with more output
than input channels, a stem's or a depthwise convolution's output unfolding) is factorised as it
is, not transposed, and its gain divided by its rows; there EVBMF often finds no noise variance
(the lower bound above the upper), and such an unfolding, like one with non-finite weights,
keeps its gain from the previous epoch of the trial, or scores 0 at the first
(``metrics.py:Metrics.evaluate``, its ``except`` branches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hyperbox.hpo.autohyper._evbmf import evbmf

__all__ = [
    "knowledge_gain",
    "low_rank_metric",
    "noise_only_unfoldings",
    "ranked_unfoldings",
    "score_trained",
    "trial_rank",
]

#: the two unfoldings of a convolution weight, in the reference's order (``metrics.py:evaluate``)
MODES = ("mode 3", "mode 4")


def _unfoldings(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_channels, in_channels = weight.shape[:2]
    return (
        np.moveaxis(weight, 1, 0).reshape(in_channels, -1),  # mode 3: input channels
        weight.reshape(out_channels, -1),  # mode 4: output channels
    )


def _gain(unfolding: np.ndarray) -> float | None:
    """The knowledge gain, or None where the reference's EVBMF fails."""
    if not np.all(np.isfinite(unfolding)):  # a diverged trial: the reference's SVD fails
        return None
    try:
        singular = evbmf(unfolding, transpose=False).singular_values
    except ValueError:
        return None
    if len(singular) == 0:
        return 0.0
    return float(np.sum(singular / singular[0]) / unfolding.shape[0])


def _convolutions(model: Any) -> Iterable[tuple[str, np.ndarray]]:
    for name, parameter in model.named_parameters():
        if parameter.dim() == 4:
            yield name, parameter.detach().cpu().double().numpy()


def knowledge_gain(model: Any) -> dict[str, list[float]]:
    """``parameter name -> [gain of mode 3, gain of mode 4]`` for every convolution (4-D) weight;
    0 where EVBMF fails (as at a trial's first epoch).

    ``model`` is anything with ``named_parameters()`` (a torch module) whose values convert with
    ``.detach().cpu().numpy()``.
    """
    return {
        name: [_gain(unfolding) or 0.0 for unfolding in _unfoldings(weight)] for name, weight in _convolutions(model)
    }


def _described_unfoldings(model: Any, in_rank: bool) -> list[str]:
    return [
        f"{name} {mode} ({unfolding.shape[0]} x {unfolding.shape[1]})"
        for name, weight in _convolutions(model)
        for mode, unfolding in zip(MODES, _unfoldings(weight))
        if (min(unfolding.shape) > 1) == in_rank
    ]


def noise_only_unfoldings(model: Any) -> list[str]:
    """The unfoldings left out of the rank because a side of 1 can never leave noise, as
    ``"name mode 3 (1 x 144)"``."""
    return _described_unfoldings(model, in_rank=False)


def ranked_unfoldings(model: Any) -> list[str]:
    """The unfoldings the rank reads (both sides 2 or more), named as by :func:`noise_only_unfoldings`."""
    return _described_unfoldings(model, in_rank=True)


def _ranked_gains(model: Any) -> list[float | None]:
    """The gains of the unfoldings in the rank (both sides 2 or more), in the reference's order."""
    gains = [
        _gain(unfolding)
        for _, weight in _convolutions(model)
        for unfolding in _unfoldings(weight)
        if min(unfolding.shape) > 1
    ]
    if not gains:
        raise ValueError("autoHyper's rank reads convolution (4-D) weights with 2 or more channels; the model has none")
    return gains


def trial_rank(epochs: Iterable[Any]) -> float:
    """The rank of a short trial from the model after each of its epochs: the fraction of zero
    gains, averaged over the epochs (``autoHyper.py:compute_rank``); an unfolding EVBMF cannot
    factorise keeps its previous epoch's gain (0 at the first)."""
    fractions: list[float] = []
    previous: list[float] = []
    for model in epochs:
        found = _ranked_gains(model)
        if len(previous) != len(found):  # the first epoch (snapshots hold the same weights throughout)
            previous = [0.0] * len(found)
        previous = [before if gain is None else gain for gain, before in zip(found, previous)]
        fractions.append(float(np.mean(np.isclose(previous, 0.0))))
    if not fractions:
        raise ValueError("autoHyper's rank needs the model after one epoch at least; the trial returned none")
    return float(np.mean(fractions))


def low_rank_metric(model: Any) -> float:
    """The fraction of convolution unfoldings with zero knowledge gain: 1 for an untrained
    network, 0 when every layer has learnt something. autoHyper calls it the trial's *rank*."""
    return trial_rank([model])


def score_trained(trained: Any, metric: Callable[[Any], float] | None = None) -> float:
    """The score of a short trial that returns the trained model or the model after each epoch:
    :func:`trial_rank` by default, else the mean of ``metric`` over the models."""
    epochs = [trained] if hasattr(trained, "named_parameters") or not isinstance(trained, Iterable) else list(trained)
    if metric is None:
        return trial_rank(epochs)
    return float(np.mean([metric(model) for model in epochs]))
