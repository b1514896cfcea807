"""Unbiased evaluation on random exposure: pure functions of ranked lists, random-test ratings, predictions.

A random-exposure test (Coat, Yahoo! R3) holds ratings of items chosen for each user uniformly at
random, so averages over it estimate what would happen if any item were shown, free of the
self-selection that biases logged data (Schnabel et al. 2016).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

FloatArray = npt.NDArray[np.float64]


def random_exposure_likes(
    top: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    items: npt.ArrayLike,
    liked: npt.NDArray[np.bool_],
    n_items: int,
) -> FloatArray:
    """Per user, the unbiased estimate of how many items of its ranked list the user likes.

    The random items are a uniform sample of the catalog, so ``n_items / n_random(u)`` times the
    liked random items that fall in the list is unbiased for the liked items in the list.

    Args:
        top: ``(n_users, k)`` ranked internal item indices (-1 padding).
        rows: Row of ``top`` of each random-test rating.
        items: Internal item index of each random-test rating.
        liked: Whether each random-test rating is a like.
        n_items: Catalog size.
    """
    in_top = (top[rows] == np.asarray(items)[:, None]).any(axis=1)
    shown = np.bincount(rows, minlength=len(top)).astype(np.float64)
    hits = np.bincount(rows, weights=(in_top & liked).astype(np.float64), minlength=len(top))
    estimate: FloatArray = hits * n_items / np.maximum(shown, 1.0)
    return estimate


def calibration_summary(predicted: FloatArray, actual: FloatArray, bins: int = 10) -> dict[str, Any]:
    """AUC, Brier score, expected calibration error and the curve (quantile bins) of predictions.

    Args:
        predicted: Predicted probabilities.
        actual: Outcomes, 0 or 1.
        bins: Number of quantile bins of the curve and the calibration error (fewer with ties).
    """
    # equal-count bins by quantile edges: tied predictions always share a bin
    edges = np.unique(np.quantile(predicted, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    assigned = np.searchsorted(edges, predicted, side="right")
    curve = []
    error = 0.0
    for b in np.unique(assigned).tolist():
        part = assigned == b
        p, a = float(predicted[part].mean()), float(actual[part].mean())
        curve.append({"predicted": p, "actual": a, "pairs": int(part.sum())})
        error += part.sum() / len(predicted) * abs(p - a)
    both = 0 < actual.sum() < len(actual)
    predicted_rate, actual_rate = float(predicted.mean()), float(actual.mean())
    return {
        "pairs": len(actual),
        "auc": float(roc_auc_score(actual, predicted)) if both else None,
        "brier": float(np.mean((predicted - actual) ** 2)),
        "calibration_error": error,
        "predicted_like_rate": predicted_rate,
        "actual_like_rate": actual_rate,
        "relative_rate_error": predicted_rate / actual_rate - 1.0 if actual_rate > 0 else None,
        "curve": curve,
    }
