"""Position bias of the calibrated engine: the examination curve and its estimation from click logs.

The examination curve ``e(p) = (p + 1) ** -eta`` is not identifiable from rating logs (they have no
positions). ``eta`` defaults to 1 (the power law found in click logs, e.g. Joachims et al. 2017);
:func:`fit_position_bias` estimates it by maximum likelihood of the cascade model from click logs with
positions when a deployment has them. The preference part of the engine is estimated in
:mod:`recpilot.simulation.like_model`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar

FloatArray = npt.NDArray[np.float64]


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function, overflow-safe."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def logit(p: FloatArray) -> FloatArray:
    """The inverse of :func:`sigmoid`, with probabilities clipped away from 0 and 1."""
    q = np.clip(p, 1e-9, 1.0 - 1e-9)
    out: FloatArray = np.log(q) - np.log1p(-q)
    return out


def examination(positions: npt.ArrayLike, eta: float) -> FloatArray:
    """Probability of examining 0-based position ``p``: ``(p + 1) ** -eta``."""
    out: FloatArray = (np.asarray(positions, dtype=np.float64) + 1.0) ** -eta
    return out


def cascade_log_likelihood(attractiveness: FloatArray, clicks: npt.NDArray[np.int64], eta: float) -> float:
    """Log-likelihood of cascade click logs: one row per page, click position or -1 for none."""
    n, k = attractiveness.shape
    p_click = np.clip(examination(np.arange(k), eta)[None, :] * attractiveness, 1e-12, 1 - 1e-12)
    before = np.arange(k)[None, :] < np.where(clicks < 0, k, clicks)[:, None]
    total = np.sum(np.log1p(-p_click) * before)
    clicked = clicks >= 0
    total += np.sum(np.log(p_click[np.flatnonzero(clicked), clicks[clicked]]))
    return float(total / max(n, 1))


def fit_position_bias(attractiveness: FloatArray, clicks: npt.NDArray[np.int64]) -> float:
    """Maximum-likelihood ``eta`` of the cascade model from click logs with known attractiveness."""
    result = minimize_scalar(
        lambda eta: -cascade_log_likelihood(attractiveness, clicks, float(eta)),
        bounds=(0.0, 5.0),
        method="bounded",
    )
    return float(result.x)
