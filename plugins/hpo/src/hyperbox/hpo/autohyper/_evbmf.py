"""Empirical variational Bayesian matrix factorisation (EVBMF), analytic solution.

Nakajima, Sugiyama, Babacan and Tomioka, "Global analytic solution of fully-observed variational
Bayesian matrix factorization", JMLR 2013. For ``Y = B A^T + E`` with Gaussian noise of unknown
variance, the empirical VB solution keeps the singular components of ``Y`` above a threshold
set by the noise variance, shrinks them analytically, and estimates the noise variance by
minimising the free energy over one scalar. No iteration over the factors is needed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["EVBMFResult", "evbmf"]

#: The root of the threshold equation, tau_bar ~ 2.5129 sqrt(alpha) (Nakajima et al., 2013).
_TAU_BAR_FACTOR = 2.5129


class EVBMFResult(NamedTuple):
    """The estimated rank, the retained singular values (largest first) and the noise variance."""

    rank: int
    singular_values: np.ndarray
    noise_variance: float


def evbmf(matrix, noise_variance: float | None = None, *, transpose: bool = True) -> EVBMFResult:
    """Factorise ``matrix`` by EVBMF; ``noise_variance`` is estimated when not given.

    The solution is stated for ``L <= M`` rows and columns, so a taller matrix is transposed
    first. ``transpose=False`` factorises it as given, as autoHyper's reference code does
    (github.com/MathieuTuli/autoHyper, branch ``master``, ``src/autohyper/VBMF.py:EVBMF``, which
    assumes ``L <= M`` without checking); there the noise variance's lower bound can exceed its
    upper bound, and this raises ``ValueError`` as the reference's bounded minimisation does.
    """
    y = np.asarray(matrix, dtype=np.float64)
    if y.ndim != 2 or 0 in y.shape:
        raise ValueError(f"evbmf needs a non-empty 2-D matrix, got shape {y.shape}")
    if transpose and y.shape[0] > y.shape[1]:
        y = y.T
    rows, cols = y.shape
    # singular values from the smaller Gram matrix: far faster than an SVD of a wide conv unfolding
    gram = y @ y.T if rows <= cols else y.T @ y
    singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))[::-1]
    alpha = rows / cols
    tau_bar = _TAU_BAR_FACTOR * math.sqrt(alpha)
    x_bar = (1 + tau_bar) * (1 + alpha / tau_bar)
    if noise_variance is None:
        noise_variance = _estimate_noise_variance(singular, rows, cols, alpha, x_bar)
    if noise_variance <= 0:  # an all-zero matrix
        return EVBMFResult(0, singular[:0], 0.0)
    kept = singular[singular > math.sqrt(cols * noise_variance * x_bar)]
    shrink = (rows + cols) * noise_variance / kept**2
    estimates = kept / 2 * (1 - shrink + np.sqrt((1 - shrink) ** 2 - 4 * rows * cols * noise_variance**2 / kept**4))
    return EVBMFResult(len(kept), estimates, float(noise_variance))


def _estimate_noise_variance(singular: np.ndarray, rows: int, cols: int, alpha: float, x_bar: float) -> float:
    upper = float(np.sum(singular**2)) / (rows * cols)  # everything is noise
    if upper == 0:
        return 0.0
    # EVB keeps at most ceil(L / (1 + alpha)) - 1 components, so the rest bound the noise from below
    first_dropped = min(math.ceil(rows / (1 + alpha)) - 1, rows - 1)
    lower = max(singular[first_dropped] ** 2 / (cols * x_bar), float(np.mean(singular[first_dropped:] ** 2)) / cols)
    if lower > upper:  # only for more rows than columns (transpose=False)
        raise ValueError(f"evbmf: no noise variance between {lower:.6g} and {upper:.6g} ({rows} x {cols})")
    if lower == upper:
        return upper
    args = (singular, rows, cols, alpha, x_bar)
    return float(minimize_scalar(_free_energy, bounds=(lower, upper), args=args, method="bounded").x)


def _free_energy(
    noise_variance: float, singular: np.ndarray, rows: int, cols: int, alpha: float, x_bar: float
) -> float:
    """Twice the free energy up to terms constant in the noise variance."""
    x = singular**2 / (cols * noise_variance)
    above = x[x > x_bar]
    tau = 0.5 * (above - (1 + alpha) + np.sqrt((above - (1 + alpha)) ** 2 - 4 * alpha))
    # x - log(x) per component, without log(singular^2) which does not depend on the variance; with
    # fewer singular values than rows (transpose=False) the reference's (L - H) log(sigma2) makes the
    # coefficient the number of rows still (VBMF.py:EVBsigma2)
    energy = float(np.sum(x)) + rows * math.log(noise_variance)
    return energy + float(np.sum(np.log(tau + 1) + alpha * np.log(tau / alpha + 1) - tau))
