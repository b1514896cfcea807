"""Bootstrap confidence intervals over users, and a paired bootstrap test between two models.

Resampling is vectorised: each block of resamples draws an index matrix, turns it into per-user
counts with one ``bincount`` and averages every metric with one matrix product. The resamples depend
only on ``seed`` and the number of users, so two models scored on the same users with the same seed
see the same resamples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recpilot.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

_COUNT_BUDGET = 2**20  # resample counts per block: small enough for bincount to stay in cache


@dataclass(frozen=True)
class ConfidenceInterval:
    """A mean and its percentile-bootstrap confidence interval.

    Attributes:
        mean: The mean over users.
        low: Lower bound.
        high: Upper bound.
        confidence: The confidence level, e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    confidence: float

    def bounds(self) -> list[float]:
        """``[low, high]``, as written in reports."""
        return [self.low, self.high]


@dataclass(frozen=True)
class PairedComparison:
    """The difference between two models' means over the same users.

    Attributes:
        mean_difference: ``mean(a) - mean(b)``.
        low: Lower bound of the percentile-bootstrap interval of the difference.
        high: Upper bound.
        p_value: Two-sided bootstrap p-value of "no difference" (resampled differences shifted to
            mean zero, Efron & Tibshirani 1993, §16.4), with the ``+1`` correction so it is never 0.
        confidence: The confidence level of the interval.
        n_users: Number of paired users.
    """

    mean_difference: float
    low: float
    high: float
    p_value: float
    confidence: float
    n_users: int

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha``."""
        return self.p_value < alpha


def bootstrap_means(values: npt.ArrayLike, *, n_resamples: int = 1000, seed: int = 0) -> FloatArray:
    """Means of ``n_resamples`` resamples of users (rows) drawn with replacement.

    Args:
        values: ``(n_users,)`` or ``(n_users, n_metrics)`` per-user values.
        n_resamples: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        ``(n_resamples,)`` or ``(n_resamples, n_metrics)`` resampled means.
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim not in (1, 2):
        raise ConfigError(f"bootstrap expects per-user values of shape (n,) or (n, m), got {matrix.shape}")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples}")
    n_users = matrix.shape[0]
    if n_users == 0:
        raise ConfigError("cannot bootstrap over zero users")
    columns = matrix.reshape(n_users, -1)
    rng = np.random.default_rng(seed)
    means = np.empty((n_resamples, columns.shape[1]), dtype=np.float64)
    block = max(1, _COUNT_BUDGET // n_users)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        picks = rng.integers(0, n_users, size=(size, n_users), dtype=np.int32)
        # Counts per (resample, user) turn the resampled mean into a matrix product over all metrics.
        offsets = (np.arange(size) * n_users)[:, None]
        counts = np.bincount((picks + offsets).ravel(), minlength=size * n_users).reshape(size, n_users)
        means[start : start + size] = counts.astype(np.float64) @ columns / n_users
    return means.reshape(n_resamples) if matrix.ndim == 1 else means


def bootstrap_means_crossed(values: npt.ArrayLike, *, n_resamples: int = 1000, seed: int = 0) -> FloatArray:
    """Means of resamples that draw users and repeated runs with replacement, independently.

    Per-user values measured in several runs (e.g. recommenders retrained on other splits of the data)
    vary with the run as well as with the user, and a run's shift is shared by all its users: a
    bootstrap over users alone takes one run's luck for a real difference. Resampling both factors
    (the pigeonhole bootstrap for a crossed design, Owen 2007, mildly conservative) counts both.
    With one run it is :func:`bootstrap_means` over users.

    Args:
        values: ``(n_runs, n_users)`` or ``(n_runs, n_users, n_metrics)`` per-run, per-user values.
        n_resamples: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        ``(n_resamples,)`` or ``(n_resamples, n_metrics)`` resampled means.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ConfigError(
            f"a crossed bootstrap expects per-run, per-user values of shape (runs, n) or (runs, n, m), got "
            f"{array.shape}"
        )
    runs, n_users = array.shape[:2]
    cube = array.reshape(runs, n_users, -1)
    if runs == 1:
        means = bootstrap_means(cube[0], n_resamples=n_resamples, seed=seed)
    else:
        rng = np.random.default_rng([seed, runs])
        by_user = cube.transpose(1, 0, 2).reshape(n_users, -1)
        means = np.empty((n_resamples, cube.shape[2]), dtype=np.float64)
        block = max(1, _COUNT_BUDGET // (n_users + runs))
        for start in range(0, n_resamples, block):
            size = min(block, n_resamples - start)
            users = _counts(rng.integers(0, n_users, size=(size, n_users)), n_users)
            run_counts = _counts(rng.integers(0, runs, size=(size, runs)), runs)
            per_run = (users @ by_user).reshape(size, runs, -1)
            means[start : start + size] = np.einsum("br,brm->bm", run_counts, per_run) / (runs * n_users)
    return means.reshape(n_resamples) if array.ndim == 2 else means


def _counts(picks: npt.NDArray[np.int64], n: int) -> FloatArray:
    """Per resample (row), how often each of ``n`` units was drawn."""
    offsets = (np.arange(len(picks)) * n)[:, None]
    return (
        np.bincount((picks + offsets).ravel(), minlength=len(picks) * n)
        .reshape(len(picks), n)
        .astype(np.float64)
    )


def bootstrap_ci(
    values: npt.ArrayLike, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> ConfidenceInterval:
    """Percentile-bootstrap confidence interval of the mean of a per-user metric.

    Args:
        values: ``(n_users,)`` per-user values.
        n_resamples: Number of resamples.
        confidence: Confidence level in ``(0, 1)``.
        seed: Seed of the resampling.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ConfigError(f"bootstrap_ci expects a 1-D array of per-user values, got shape {array.shape}")
    return bootstrap_cis({"value": array}, n_resamples=n_resamples, confidence=confidence, seed=seed)["value"]


def bootstrap_cis(
    columns: Mapping[str, npt.ArrayLike], *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, ConfidenceInterval]:
    """Confidence intervals for several per-user metrics of the same users, from shared resamples.

    Args:
        columns: Metric name -> ``(n_users,)`` per-user values (all the same length).
        n_resamples: Number of resamples.
        confidence: Confidence level in ``(0, 1)``.
        seed: Seed of the resampling.
    """
    _check_confidence(confidence)
    if not columns:
        return {}
    names = list(columns)
    arrays = [np.asarray(columns[name], dtype=np.float64) for name in names]
    shapes = sorted({array.shape for array in arrays})
    if len(shapes) != 1 or len(shapes[0]) != 1:
        raise ConfigError(f"per-user metric arrays must be 1-D and of equal length, got shapes {shapes}")
    matrix = np.stack(arrays, axis=1)
    means = bootstrap_means(matrix, n_resamples=n_resamples, seed=seed)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    point = matrix.mean(axis=0)
    return {
        name: ConfidenceInterval(float(point[i]), float(low[i]), float(high[i]), confidence)
        for i, name in enumerate(names)
    }


def paired_bootstrap(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Paired bootstrap of the difference between two models' per-user values on the same users.

    Args:
        a: ``(n_users,)`` per-user values of the first model.
        b: ``(n_users,)`` per-user values of the second model, same users in the same order.
        n_resamples: Number of resamples.
        confidence: Confidence level of the interval of the difference.
        seed: Seed of the resampling.
    """
    _check_confidence(confidence)
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape:
        raise ConfigError(
            f"paired comparison needs two 1-D arrays over the same users, got shapes {first.shape} and "
            f"{second.shape}"
        )
    differences = first - second
    observed = float(differences.mean())
    resampled = bootstrap_means(differences, n_resamples=n_resamples, seed=seed)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    # Under "no difference" the resampled means spread around 0 as they spread around the observed mean.
    extreme = np.count_nonzero(np.abs(resampled - observed) >= abs(observed))
    return PairedComparison(
        mean_difference=observed,
        low=float(low),
        high=float(high),
        p_value=float((extreme + 1.0) / (n_resamples + 1.0)),
        confidence=confidence,
        n_users=len(differences),
    )


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
