"""Estimation for the calibrated engine: the preference model, the logistic link and position bias.

How the offline engine's parameters are estimated (all from training interactions):

1. **Preference model.** EASE (Steck 2019) fitted on the interactions the engine may know. Raw scores
   are standardised per user (mean and standard deviation over a fixed random sample of the catalog),
   so a score ``z`` means "this many standard deviations above the user's typical item".
2. **Logistic link** ``P(like | u, i) = sigmoid(w0 + w1 z + w2 (2c_u - 1)(2q_i - 1) + w3 (2q_i - 1))``
   with ``c_u`` the persona's conformity and ``q_i`` the item's popularity percentile. Each user's
   training interactions are split (seeded) into an inner train part and an inner held-out part; EASE
   is fitted on the inner train part, and the weights are the maximum-likelihood estimate (Newton /
   IRLS with a tiny ridge) of the inner held-out positives against as many sampled items the user never
   interacted with. Fitting on scores of items the model did not see keeps the link honest (scores of
   training items are inflated).
3. **Rating model.** On the same inner held-out positives, the user-standardised rating
   ``(r - mean_u) / std_u`` is regressed on ``z - mean(z of positives)`` by least squares: slope
   ``kappa``, residual ``sigma``.
4. **Position bias.** The examination curve ``e(p) = (p + 1) ** -eta`` is not identifiable from rating
   logs (no positions). ``eta`` defaults to 1 (the power law found in click logs, e.g. Joachims et al.
   2017); :func:`fit_position_bias` estimates it by maximum likelihood of the cascade model from click
   logs with positions when a deployment has them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize_scalar

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.models.ease import EaseRecommender
from recpilot.simulation.persona import percentile_rank

FloatArray = npt.NDArray[np.float64]
_SAMPLE_ITEMS = 1024


class LinkParams(BaseModel):
    """Fitted parameters of the attractiveness link and the rating model.

    Attributes:
        intercept: ``w0``.
        preference: ``w1``, weight of the standardised preference score.
        conformity: ``w2``, weight of conformity x popularity.
        popularity: ``w3``, weight of popularity alone.
        rating_slope: ``kappa`` of the rating model.
        rating_noise: ``sigma`` of the rating model.
        positive_z: Mean standardised score of held-out positives (the rating model's centre).
        n_positive: Positives used in the fit.
        n_negative: Negatives used in the fit.
        log_likelihood: Mean log-likelihood per sample at the optimum.
    """

    model_config = ConfigDict(extra="forbid")

    intercept: float = 0.0
    preference: float = 1.0
    conformity: float = 0.0
    popularity: float = 0.0
    rating_slope: float = 0.3
    rating_noise: float = 0.9
    positive_z: float = 2.0
    n_positive: int = 0
    n_negative: int = 0
    log_likelihood: float | None = None

    def logit(self, z: FloatArray, conformity: FloatArray, popularity: FloatArray) -> FloatArray:
        """The link's logit for aligned arrays (``conformity`` broadcasts per user)."""
        pop = 2.0 * popularity - 1.0
        out: FloatArray = (
            self.intercept + self.preference * z + self.conformity * (2.0 * conformity - 1.0) * pop
        ) + self.popularity * pop
        return out


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function, overflow-safe."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def fit_logistic(
    features: FloatArray, labels: FloatArray, *, ridge: float = 1e-4, steps: int = 50
) -> FloatArray:
    """Maximum-likelihood logistic regression (Newton / IRLS); ``features`` include the bias column."""
    weights = np.zeros(features.shape[1])
    for _ in range(steps):
        p = sigmoid(features @ weights)
        gradient = features.T @ (labels - p) - ridge * weights
        hessian = (features * (p * (1 - p))[:, None]).T @ features + ridge * np.eye(len(weights))
        step = np.linalg.solve(hessian, gradient)
        weights += step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def log_likelihood(features: FloatArray, labels: FloatArray, weights: FloatArray) -> float:
    """Mean Bernoulli log-likelihood of a logistic model."""
    logits = features @ weights
    return float(np.mean(labels * logits - np.logaddexp(0.0, logits)))


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


class PreferenceModel:
    """Ground-truth preferences: EASE scores standardised per user.

    Args:
        l2: EASE regularisation.
        seed: Seed of the catalog sample used to standardise scores.
    """

    def __init__(self, *, l2: float = 100.0, seed: int = 0) -> None:
        self.l2 = l2
        self._ease = EaseRecommender(l2=l2)
        self._seed = seed
        self._matrix: Any = None
        self.popularity_pct: FloatArray = np.zeros(0)

    def fit(self, dataset: Dataset, *, fitted: EaseRecommender | None = None) -> PreferenceModel:
        """Fit EASE on ``dataset`` and keep its user x item matrix for scoring.

        Args:
            dataset: The interactions the preferences come from.
            fitted: An EASE already fitted on ``dataset`` with this model's ``l2``, adopted instead of
                fitting a new one (EASE is deterministic, so the result is the same).

        Raises:
            ConfigError: ``fitted`` is unfitted, has another ``l2`` or another user or item space.
        """
        if fitted is None:
            self._ease.fit(dataset)
        else:
            _check_adoptable(fitted, dataset, self.l2)
            self._ease = fitted
        self._matrix = dataset.matrix("binary")[:, self._ease.active_items].tocsr()
        self.popularity_pct = popularity_percentile(dataset)
        rng = np.random.default_rng(self._seed)
        n_active = len(self._ease.active_items)
        self._sample = rng.choice(n_active, size=min(_SAMPLE_ITEMS, n_active), replace=False)
        self._n_items = dataset.n_items
        return self

    def scores(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Standardised scores ``(len(users), n_items)``; items without training data get 0."""
        rows = self._matrix[users]
        raw = np.asarray(rows @ self._ease.weights, dtype=np.float32)
        sample = raw[:, self._sample]
        mean = sample.mean(axis=1, keepdims=True)
        std = np.maximum(sample.std(axis=1, keepdims=True), 1e-6)
        out = np.zeros((len(users), self._n_items), dtype=np.float32)
        out[:, self._ease.active_items] = (raw - mean) / std
        # items no one interacted with score at the user's mean (z = 0 there already)
        return out


def _check_adoptable(model: EaseRecommender, dataset: Dataset, l2: float) -> None:
    if not model.is_fitted:
        raise ConfigError("the EASE model offered to the preference model is not fitted")
    if model.config.l2 != l2:
        raise ConfigError(f"the EASE model offered has l2={model.config.l2:g}, the preference model {l2:g}")
    if model.item_map != dataset.items or model.user_map != dataset.users:
        raise ConfigError(
            f"the EASE model offered was fitted on other users or items than dataset {dataset.name!r}"
        )


def popularity_percentile(dataset: Dataset) -> FloatArray:
    """Each item's popularity percentile among items with interactions (0 for the others)."""
    popularity = dataset.item_popularity
    pct = np.zeros(dataset.n_items)
    pct[popularity > 0] = percentile_rank(popularity[popularity > 0])
    return pct


def inner_split(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, pd.DataFrame]:
    """Hold out ``fraction`` of each user's interactions (at least one when the user has two or more)."""
    frame = dataset.interactions
    rng = np.random.default_rng(seed)
    users = frame[Columns.USER_IDX].to_numpy()
    counts = np.bincount(users, minlength=dataset.n_users)
    rank = pd.Series(rng.random(len(frame))).groupby(users).rank(method="first").to_numpy() - 1
    quota = np.where(counts >= 2, np.maximum(1, np.floor(fraction * counts)), 0)
    held = rank < quota[users]
    return dataset.with_interactions(frame[~held]), frame[held].reset_index(drop=True)


def calibrate_link(
    dataset: Dataset,
    conformity: FloatArray,
    *,
    fraction: float = 0.2,
    seed: int = 0,
    l2: float = 100.0,
    max_positives: int = 50_000,
) -> LinkParams:
    """Estimate :class:`LinkParams` from ``dataset`` (see the module docstring for the procedure).

    Args:
        dataset: Training interactions only.
        conformity: Per internal user index, the persona's conformity.
        fraction: Share of each user's interactions held out for the inner fit.
        seed: Seed of the inner split and negative sampling.
        l2: EASE regularisation of the inner preference model.
        max_positives: Cap on the held-out positives used (a random subset beyond it).
    """
    rng = np.random.default_rng([seed, 7])
    inner, held = inner_split(dataset, fraction, seed)
    if len(held) > max_positives:
        held = held.iloc[np.sort(rng.choice(len(held), max_positives, replace=False))]
    model = PreferenceModel(l2=l2, seed=seed).fit(inner)
    model.popularity_pct = popularity_percentile(dataset)
    users = held[Columns.USER_IDX].to_numpy().astype(np.int64)
    pos_items = held[Columns.ITEM_IDX].to_numpy().astype(np.int64)
    neg_items = _sample_negatives(dataset, users, rng)
    z_pos, z_neg = np.empty(len(users)), np.empty(len(users))
    unique, inverse = np.unique(users, return_inverse=True)
    for start in range(0, len(unique), 512):
        block = unique[start : start + 512]
        scores = model.scores(block)
        mask = (inverse >= start) & (inverse < start + len(block))
        rows = inverse[mask] - start
        z_pos[mask] = scores[rows, pos_items[mask]]
        z_neg[mask] = scores[rows, neg_items[mask]]
    z = np.concatenate([z_pos, z_neg])
    conf = np.concatenate([conformity[users], conformity[users]])
    pop = np.concatenate([model.popularity_pct[pos_items], model.popularity_pct[neg_items]])
    labels = np.concatenate([np.ones(len(users)), np.zeros(len(users))])
    features = np.column_stack([np.ones(len(z)), z, (2 * conf - 1) * (2 * pop - 1), 2 * pop - 1])
    weights = fit_logistic(features, labels)
    slope, noise, centre = _fit_rating_model(dataset, held, z_pos)
    return LinkParams(
        intercept=float(weights[0]),
        preference=float(weights[1]),
        conformity=float(weights[2]),
        popularity=float(weights[3]),
        rating_slope=slope,
        rating_noise=noise,
        positive_z=centre,
        n_positive=len(users),
        n_negative=len(users),
        log_likelihood=log_likelihood(features, labels, weights),
    )


def _sample_negatives(
    dataset: Dataset, users: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """One uniformly sampled item per row that the user never interacted with."""
    seen = dataset.matrix("binary")
    out = rng.integers(0, dataset.n_items, size=len(users))
    for _ in range(20):
        bad = np.asarray(seen[users, out]).ravel() > 0
        if not bad.any():
            break
        out[bad] = rng.integers(0, dataset.n_items, size=int(bad.sum()))
    return out.astype(np.int64)


def _fit_rating_model(dataset: Dataset, held: pd.DataFrame, z_pos: FloatArray) -> tuple[float, float, float]:
    centre = float(np.mean(z_pos)) if len(z_pos) else 2.0
    if dataset.implicit or len(held) < 10:
        return 0.0, 0.0, centre
    ratings = dataset.matrix("rating")
    counts = np.diff(ratings.indptr)
    mean = np.asarray(ratings.sum(axis=1)).ravel() / np.maximum(counts, 1)
    sq = np.asarray(ratings.multiply(ratings).sum(axis=1)).ravel() / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    users = held[Columns.USER_IDX].to_numpy()
    target = (held[Columns.RATING].to_numpy() - mean[users]) / np.maximum(std[users], 0.5)
    x = z_pos - centre
    slope = float(np.dot(x, target) / max(np.dot(x, x), 1e-9))
    noise = float(np.std(target - slope * x))
    return slope, noise, centre
