"""The simulator's preference model: who would like what, corrected for self-selection.

Logged ratings are self-selected: users rate what they chose, and they choose what they expect to
like, so the like rate of logged ratings overstates the like rate of items shown at random (Marlin et
al. 2007; Schnabel et al. 2016). The model has two parts, both maximum-likelihood logistic regressions
(L2-penalised) on the same design:

- **Exposure (selection) model** ``P(O = 1 | u, i)``: whether the user rated the item at all, fitted on
  every user x item cell (or all logged cells and a weighted sample of the others on large catalogs).
  Its predictions are the propensities.
- **Like model** ``P(like | u, i)``: fitted on the logged ratings, each weighted by its inverse
  propensity (clipped at the 95th percentile, normalised to mean 1): inverse propensity scoring makes
  the fit target the whole user x item population instead of the self-selected part, under the
  assumption that selection depends on the pair only through the model's features ("selection on
  observables"; what selection on the rating itself leaves is not corrected and is reported as assumed).
  The same design fitted without weights gives ``P(like | u, i, chosen)``, the like rate of items the
  user picked, which the engine uses for items clicked in a feed.

The design is ``w0 + b_u + c_i + g_u' W h_i + t * c_ui``: a user bias, an item bias, the crosses of
user features ``g_u`` with item attributes ``h_i`` (the user feature table when the dataset has one,
else the user's attribute profile over their logged items), and a collaborative taste term ``c_ui``
with one fitted weight: by default the rank consensus of three recommender families (item
neighbourhood, linear autoencoder, low rank; :mod:`recpilot.simulation.taste`), which weighs them
alike and so favours none of them (``taste="svd"``, the earlier low-rank block with one weight per SVD
factor, favoured ALS and BPR). The nearest family left is popularity (the item bias), which the audit
reports with the others.

A rating is a like when it is at least three quarters up the rating scale (4 of 1-5, 4 of 0.5-5).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import NotFittedError
from recpilot.simulation.calibration import logit, sigmoid
from recpilot.simulation.persona import genre_matrix
from recpilot.simulation.taste import TasteBlock

FloatArray = npt.NDArray[np.float64]


class LikeModelConfig(BaseModel):
    """Settings of :class:`LikeModel`.

    Attributes:
        inverse_l2: Inverse L2 strength (scikit-learn's ``C``, its default 1) of every logistic fit.
        clip_quantile: Inverse propensities above this quantile are clipped (variance control).
        max_cells: Fit the exposure model on every cell up to this many; beyond, on all logged cells
            plus ``negatives`` sampled unlogged cells per logged one, weighted back to their true share.
        negatives: Sampled unlogged cells per logged cell on large catalogs.
        like_threshold: Ratings at or above it are likes (``None``: three quarters up the scale).
        taste: The collaborative taste term: ``consensus``, one fitted weight on the rank consensus of
            three recommender families (:mod:`recpilot.simulation.taste`), or ``svd``, one weight per
            factor of a truncated SVD of the logged matrix (a low-rank block: the family of ALS and
            BPR, which it favours).
        consensus_max_cells: The consensus is held as a users x items table: on a log with more cells
            than this (about 100 MB of table, a few times that while it is built) the low-rank block
            is used instead, and the fit's summary says so (``taste``, ``taste_note``).
        factors: Size of the low-rank block (``svd``) or of the low-rank family (``consensus``).
        seed: Seed of the negative sample and of the SVD.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    inverse_l2: float = Field(default=1.0, gt=0.0)
    clip_quantile: float = Field(default=0.95, gt=0.0, le=1.0)
    max_cells: int = Field(default=1_000_000, ge=1)
    negatives: int = Field(default=4, ge=1)
    like_threshold: float | None = None
    taste: Literal["consensus", "svd"] = "consensus"
    families: tuple[Literal["popularity", "neighbourhood", "linear_autoencoder", "low_rank"], ...] = (
        "neighbourhood",
        "linear_autoencoder",
        "low_rank",
    )
    consensus_max_cells: int = Field(default=25_000_000, ge=1)
    factors: int = Field(default=16, ge=0)
    seed: int = 0


class LikeModel:
    """Exposure-corrected like probabilities (see the module docstring).

    Args:
        config: Settings.
    """

    def __init__(self, config: LikeModelConfig | None = None) -> None:
        self.config = config or LikeModelConfig()
        self.threshold = 1.0
        self.summary: dict[str, Any] = {}
        self._fitted = False

    def fit(self, dataset: Dataset) -> LikeModel:
        """Fit the exposure, like and chosen-like models on ``dataset``'s logged interactions."""
        cfg = self.config
        self._n_users, self._n_items = dataset.n_users, dataset.n_items
        self._items = _item_features(dataset)
        self._users = _user_features(dataset, self._items)
        taste, taste_note = cfg.taste, None
        cells = dataset.n_users * dataset.n_items
        if taste == "consensus" and cells > cfg.consensus_max_cells:
            taste = "svd"
            taste_note = (
                f"the taste consensus needs a users x items table ({dataset.n_users:,} x "
                f"{dataset.n_items:,} = {cells:,} cells, over consensus_max_cells="
                f"{cfg.consensus_max_cells:,}): the low-rank block was used, which favours ALS and BPR"
            )
        self._taste = TasteBlock(
            dataset.matrix("binary"), taste, cfg.families, factors=cfg.factors, seed=cfg.seed
        )
        # contiguous columns for the pair logits (item attributes are few: genres)
        self._item_columns = np.ascontiguousarray(self._items.toarray().T)
        self._logged = dataset.matrix("binary")
        frame = dataset.interactions.drop_duplicates([Columns.USER_IDX, Columns.ITEM_IDX], keep="last")
        users = frame[Columns.USER_IDX].to_numpy(np.int64)
        items = frame[Columns.ITEM_IDX].to_numpy(np.int64)
        ratings = frame[Columns.RATING].to_numpy(np.float64)
        self.threshold = like_threshold(dataset) if cfg.like_threshold is None else cfg.like_threshold

        exposure = self._fit_exposure(dataset, users, items)
        propensity = sigmoid(self._fit_logits(exposure, users, items))
        weights = 1.0 / np.maximum(propensity, 1e-6)
        weights = np.minimum(weights, np.quantile(weights, cfg.clip_quantile))
        weights /= weights.mean()
        liked = (ratings >= self.threshold).astype(np.float64)
        if dataset.implicit or liked.min() == liked.max():
            # No dislikes to learn from: liking is choosing, at the population's choice rate.
            self._like = self._chosen = exposure
        else:
            self._like = self._fit_logistic(users, items, liked, weights)
            self._chosen = self._fit_logistic(users, items, liked, None)
        self._rating_classes = _rating_classes(ratings, liked, weights, self.threshold)
        self.summary = {
            "logged_pairs": len(users),
            "logged_like_rate": float(liked.mean()),
            "ips_like_rate": float(np.average(liked, weights=weights)),
            "mean_propensity": float(propensity.mean()),
            "like_threshold": self.threshold,
            "user_features": int(self._users.shape[1]),
            "item_features": int(self._items.shape[1]),
            "taste": taste,
            "taste_families": list(cfg.families) if taste == "consensus" else ["low_rank"],
            **({"taste_note": taste_note} if taste_note else {}),
            "taste_weights": {
                "like": self._like["taste"].tolist(),
                "exposure": self._exposure["taste"].tolist(),
            },
        }
        self._fitted = True
        return self

    # -- prediction ----------------------------------------------------------------------------------

    def like_probabilities(self, users: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``P(like | u, i)`` under random exposure, ``(len(users), n_items)``."""
        return self._dense(self._like, users)

    def chosen_probabilities(self, users: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``P(like | u, i, chosen)``: the like rate of items the user picked, ``(len(users), n_items)``."""
        return self._dense(self._chosen, users)

    def exposure_probabilities(self, users: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``P(O = 1 | u, i)``: the propensity that the user rates the item of their own accord."""
        return self._dense(self._exposure, users)

    def exposure_logits(self, users: npt.ArrayLike) -> FloatArray:
        """``logit P(O = 1 | u, i)`` in float64, ``(len(users), n_items)`` (no float32 round trip, which
        loses the logit of propensities near 1)."""
        self._require()
        return logit(sigmoid(self._dense_logits(self._exposure, np.asarray(users, dtype=np.int64))))

    def like_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
        """``P(like | u, i)`` for aligned ``(user, item)`` pairs (see :meth:`_pair_logits`)."""
        self._require()
        pairs = np.asarray(users, np.int64), np.asarray(items, np.int64)
        return sigmoid(self._pair_logits(self._like, *pairs))

    def pair_probabilities(
        self, users: npt.ArrayLike, items: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Like, chosen-like and exposure probabilities of aligned ``(user, item)`` pairs (any shape).

        Each pair is computed on its own, so it gets the same value in any batch: the simulation's
        batch and one-page paths agree to the bit.
        """
        self._require()
        u, i = np.asarray(users, np.int64), np.asarray(items, np.int64)
        return tuple(  # type: ignore[return-value]  # three arrays
            sigmoid(self._pair_logits(params, u, i)) for params in (self._like, self._chosen, self._exposure)
        )

    def mean_exposure_logit(self, users: npt.ArrayLike) -> FloatArray:
        """Per user, the catalog's mean of ``logit P(O = 1 | u, i)`` (the centre of choice propensities)."""
        self._require()
        rows = np.asarray(users, dtype=np.int64)
        # blocks of users bound the whole-catalog temporaries (a row is computed alike in any block)
        block = max(1, 2**22 // max(self._n_items, 1))
        out: FloatArray = np.concatenate(
            [
                logit(sigmoid(self._dense_logits(self._exposure, rows[i : i + block]))).mean(axis=1)
                for i in range(0, len(rows), block)
            ]
            or [np.zeros(0)]
        )
        return out

    def mean_chosen_exposure_logit(self, users: npt.ArrayLike) -> FloatArray:
        """Per user, the mean of ``logit P(O = 1 | u, i)`` over the items the user chose (rated) in
        the log, the reference of relative choice propensities; for a user without logged items, the
        catalog's mean (:meth:`mean_exposure_logit`)."""
        self._require()
        rows = np.asarray(users, dtype=np.int64)
        starts, ends = self._logged.indptr[rows], self._logged.indptr[rows + 1]
        counts = (ends - starts).astype(np.int64)
        items = np.concatenate(
            [self._logged.indices[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
            or [np.zeros(0, dtype=np.int64)]
        ).astype(np.int64)
        logits = self._pair_logits(self._exposure, np.repeat(rows, counts), items)
        out = np.zeros(len(rows))
        some = counts > 0
        if some.any():
            # reduceat sums each user's segment alone: a user's centre does not depend on the batch
            offsets = (np.cumsum(counts) - counts)[some]
            out[some] = np.add.reduceat(logits, offsets) / counts[some]
        if not some.all():
            out[~some] = self.mean_exposure_logit(rows[~some])
        return out

    def rating_quantile(self, liked: npt.NDArray[np.bool_], uniform: FloatArray) -> FloatArray:
        """A rating drawn from the (IPS-weighted) rating distribution of likes or of dislikes."""
        self._require()
        (low_values, low_cdf), (high_values, high_cdf) = self._rating_classes
        low = low_values[np.minimum(np.searchsorted(low_cdf, uniform, side="right"), len(low_values) - 1)]
        high = high_values[np.minimum(np.searchsorted(high_cdf, uniform, side="right"), len(high_values) - 1)]
        out: FloatArray = np.where(liked, high, low)
        return out

    # -- internals -----------------------------------------------------------------------------------

    def _require(self) -> None:
        if not self._fitted:
            raise NotFittedError("LikeModel is not fitted: call fit(dataset) first")

    def _fit_exposure(
        self, dataset: Dataset, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> dict[str, Any]:
        cfg = self.config
        n_cells = self._n_users * self._n_items
        observed = dataset.matrix("binary")
        if n_cells <= cfg.max_cells:
            cells = np.arange(n_cells, dtype=np.int64)
            cu, ci = cells // self._n_items, cells % self._n_items
            labels = np.asarray(observed[cu, ci]).ravel().astype(np.float64)
            weights = None
        else:
            rng = np.random.default_rng([cfg.seed, 0xE4])
            m = cfg.negatives * len(users)
            nu = rng.integers(0, self._n_users, m)
            ni = rng.integers(0, self._n_items, m)
            keep = np.asarray(observed[nu, ni]).ravel() == 0
            nu, ni = nu[keep], ni[keep]
            cu, ci = np.concatenate([users, nu]), np.concatenate([items, ni])
            labels = np.concatenate([np.ones(len(users)), np.zeros(len(nu))])
            negative_weight = (n_cells - len(users)) / max(len(nu), 1)
            weights = np.concatenate([np.ones(len(users)), np.full(len(nu), negative_weight)])
        self._exposure = self._fit_logistic(cu, ci, labels, weights)
        return self._exposure

    def _design(self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> sp.csr_matrix:
        n = len(users)
        rows = np.arange(n)
        user_onehot = sp.csr_matrix((np.ones(n), (rows, users)), shape=(n, self._n_users))
        item_onehot = sp.csr_matrix((np.ones(n), (rows, items)), shape=(n, self._n_items))
        cross = _crosses(self._users[users], self._items[items])
        taste = sp.csr_matrix(self._taste.columns(users, items))
        return sp.hstack([user_onehot, item_onehot, cross, taste], format="csr")

    def _fit_logistic(
        self,
        users: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        labels: FloatArray,
        weights: FloatArray | None,
    ) -> dict[str, Any]:
        model = LogisticRegression(C=self.config.inverse_l2, max_iter=2000)
        # One BLAS thread: L-BFGS takes hundreds of small vector steps, and waking BLAS threads for each
        # cost more than it saved (ml-latest-small: engine fit 27 s -> 17 s on 2 cores). It also keeps
        # the fit from depending on the machine's core count: the like fits are flat along rarely rated
        # items, so a thread count's other rounding ends L-BFGS elsewhere (like probabilities moved by
        # 0.007 on average, at most 0.09, between 1 and 2 threads).
        design = self._design(users, items)
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(design, labels, sample_weight=weights)
        w = model.coef_.ravel()
        nu, ni, d = self._n_users, self._n_items, self._taste.width
        return {
            "intercept": float(model.intercept_[0]),
            "user": w[:nu],
            "item": w[nu : nu + ni],
            "cross": w[nu + ni : len(w) - d].reshape(self._users.shape[1], self._items.shape[1]),
            "taste": w[len(w) - d :],
        }

    def _fit_logits(
        self, params: dict[str, Any], users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> FloatArray:
        """Logits of the training pairs through BLAS products (fast on millions of pairs).

        Only the fit's propensities use it: the IPS-weighted like fit moves by up to 0.1 in a user's
        bias when the weights change in their last bits (L-BFGS stops at its tolerance on another
        path), so the fitted model is kept as it was fitted before :meth:`_pair_logits` existed.
        """
        user_side = self._users[users] @ params["cross"]
        item_side = self._items[items]
        cross = np.asarray(item_side.multiply(user_side).sum(axis=1)).ravel()
        taste = self._taste.columns(users, items) @ params["taste"]
        out: FloatArray = params["intercept"] + params["user"][users] + params["item"][items] + cross + taste
        return out

    def _pair_logits(
        self, params: dict[str, Any], users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> FloatArray:
        """Logits of aligned pairs, every element summed alone in a fixed order (no BLAS, no reduction
        over the batch), so a pair's value does not depend on which other pairs share the call."""
        unique, inverse = np.unique(users, return_inverse=True)
        inverse = inverse.reshape(users.shape)
        features, cross = self._users[unique], params["cross"]
        # the user's side of the crosses, g_u' W, one user feature at a time; one row per attribute
        side = np.zeros((cross.shape[1], len(unique)))
        for f in range(cross.shape[0]):
            side += cross[f][:, None] * features[:, f][None, :]
        out: FloatArray = params["intercept"] + params["user"][users] + params["item"][items]
        for j in range(cross.shape[1]):
            out = out + side[j][inverse] * self._item_columns[j][items]
        return out + self._taste.pair_logit(users, items, params["taste"])

    def _dense_logits(self, params: dict[str, Any], rows: npt.NDArray[np.int64]) -> FloatArray:
        """Logits of ``rows`` x the whole catalog."""
        # einsum and the sparse product sum each row the same way whatever the batch size, so a user's
        # probabilities are bit-identical alone and in a chunk (BLAS blocking is not)
        user_side = np.einsum("uf,fg->ug", self._users[rows], params["cross"])
        logits = np.asarray((self._items @ user_side.T).T, dtype=np.float64)
        logits += self._taste.dense_logit(rows, params["taste"])
        logits += params["intercept"] + params["user"][rows][:, None] + params["item"][None, :]
        return logits

    def _dense(self, params: dict[str, Any], users: npt.ArrayLike) -> npt.NDArray[np.float32]:
        self._require()
        return sigmoid(self._dense_logits(params, np.asarray(users, dtype=np.int64))).astype(np.float32)


def like_threshold(dataset: Dataset) -> float:
    """The lowest rating that counts as a like: three quarters up the scale (1.0 for implicit data)."""
    ratings = dataset.interactions[Columns.RATING].to_numpy(np.float64)
    if dataset.implicit or len(np.unique(ratings)) < 2:
        return 1.0
    low, high = float(ratings.min()), float(ratings.max())
    values = np.unique(ratings)
    target = low + 0.75 * (high - low)
    return float(values[np.searchsorted(values, target - 1e-9)])


def _item_features(dataset: Dataset) -> sp.csr_matrix:
    genres, _ = genre_matrix(dataset)
    return sp.csr_matrix(genres, dtype=np.float64)


def _user_features(dataset: Dataset, items: sp.csr_matrix) -> FloatArray:
    """The user feature table (numeric columns) or each user's attribute profile over logged items."""
    table = dataset.user_features
    if table is not None:
        numeric = table.drop(columns=[Columns.USER], errors="ignore").select_dtypes("number")
        if numeric.shape[1]:
            out = np.zeros((dataset.n_users, numeric.shape[1]))
            out[numeric.index.to_numpy(np.int64)] = numeric.to_numpy(np.float64)
            return out
    binary = dataset.matrix("binary")
    counts = np.maximum(np.diff(binary.indptr), 1)[:, None]
    profile: FloatArray = np.asarray((binary @ items).todense(), dtype=np.float64) / counts
    return profile


def _crosses(g: FloatArray, h: sp.csr_matrix) -> sp.csr_matrix:
    """Row-wise ``g (x) h`` as a sparse matrix (column ``a * h.shape[1] + j`` holds ``g[a] * h[j]``)."""
    n, fu = g.shape
    fi = h.shape[1]
    coo = h.tocoo()
    rows = np.repeat(coo.row, fu)
    cols = np.repeat(coo.col, fu) + np.tile(np.arange(fu) * fi, len(coo.col))
    values = np.repeat(coo.data, fu) * g[np.repeat(coo.row, fu), np.tile(np.arange(fu), len(coo.col))]
    return sp.csr_matrix((values, (rows, cols)), shape=(n, fu * fi))


def _rating_classes(
    ratings: FloatArray, liked: FloatArray, weights: FloatArray, threshold: float
) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]:
    """Values and cumulative weights of the dislike and like rating distributions."""
    out = []
    for mask, fallback in ((liked == 0, min(threshold, float(ratings.min()))), (liked == 1, threshold)):
        values, inverse = np.unique(ratings[mask], return_inverse=True)
        if len(values) == 0:
            out.append((np.array([fallback]), np.array([1.0])))
            continue
        mass = np.bincount(inverse, weights=weights[mask])
        out.append((values, np.cumsum(mass) / mass.sum()))
    return out[0], out[1]
