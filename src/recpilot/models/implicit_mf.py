"""Matrix factorisation from the ``implicit`` library: ALS (Hu et al. 2008) and BPR (Rendle et al. 2009).

``implicit`` does the training in compiled, multi-threaded code. We keep only the factor arrays, so a
saved model needs neither pickle nor the library's own format, and score known users with one batched
matrix product. ``implicit`` asks that BLAS run single-threaded while it trains (its own threads
already use every core; nested BLAS threads oversubscribe them), so fitting and fold-in run under
``threadpoolctl.threadpool_limits(1, "blas")``; scoring is a plain product that BLAS may parallelise.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from pydantic import Field
from threadpoolctl import threadpool_limits

from recpilot.data.dataset import Dataset
from recpilot.models.base import ConfigT, Histories, Recommender, RecommenderConfig


class _FactorConfig(RecommenderConfig):
    """Fields shared by the factorisation models.

    Defaults were tuned for leave-last-out full ranking on MovieLens-small and Amazon Beauty.

    Attributes:
        factors: Size of the latent vectors.
        regularization: L2 penalty on the factors.
        iterations: Training epochs.
        seed: Seed of the factor initialisation (and of BPR's sampling).
        num_threads: Training threads; 0 means one per core.
    """

    factors: int = Field(default=128, ge=1)
    regularization: float = Field(default=1.0, ge=0.0)
    iterations: int = Field(default=15, ge=1)
    seed: int = 42
    num_threads: int = Field(default=0, ge=0)


class ALSConfig(_FactorConfig):
    """Configuration of :class:`ALSRecommender`.

    Attributes:
        alpha: Confidence of an observed interaction (``c = alpha * value``; unobserved cells have
            confidence 1 and target 0). Sparse data (Amazon) likes 10-20, long MovieLens histories
            1-5; 5 is a compromise.
    """

    alpha: float = Field(default=5.0, gt=0.0)


class BPRConfig(_FactorConfig):
    """Configuration of :class:`BPRRecommender`.

    Training is Hogwild SGD: with ``num_threads`` other than 1 the updates race, so two fits with
    the same seed differ. That was the whole gap between the CLI (NDCG@10 0.0491) and the benchmark
    harness (0.0478) on ml-100k with seed 42 (issue 13): both paths give the same split and the same
    training matrix, and with one thread both give the same figure (ml-latest-small: 0.0296 twice on
    each path; with one thread per core, 0.0296-0.0320 from run to run). One thread is therefore the
    default, so a seed reproduces a result; ``num_threads=0`` trains on every core, faster but not
    reproducible.

    Attributes:
        learning_rate: SGD step size.
        num_threads: Training threads (1 by default, for reproducible fits; 0 means one per core).
    """

    regularization: float = Field(default=0.01, ge=0.0)
    num_threads: int = Field(default=1, ge=0)
    iterations: int = Field(default=200, ge=1)
    learning_rate: float = Field(default=0.1, gt=0.0)


class _FactorRecommender(Recommender[ConfigT]):
    """Shared scoring, similarity and persistence over ``user_factors`` and ``item_factors``."""

    _user_factors: npt.NDArray[np.float32]
    _item_factors: npt.NDArray[np.float32]

    @property
    def user_factors(self) -> npt.NDArray[np.float32]:
        """``(n_users, d)`` learned user vectors (internal user order)."""
        return self._user_factors

    @property
    def item_factors(self) -> npt.NDArray[np.float32]:
        """``(n_items, d)`` learned item vectors (internal item order)."""
        return self._item_factors

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._user_factors[users] @ self._item_factors.T

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self.fold_in(histories) @ self._item_factors.T

    def _similar_items(self, item: int) -> npt.NDArray[np.float32]:
        norms = np.linalg.norm(self._item_factors, axis=1)
        norms[norms == 0] = 1.0
        unit: npt.NDArray[np.float32] = self._item_factors / norms[:, None]
        return np.asarray(unit @ unit[item], dtype=np.float32)

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"user_factors": self._user_factors, "item_factors": self._item_factors}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._user_factors = state["user_factors"]
        self._item_factors = state["item_factors"]

    @abstractmethod
    def fold_in(self, histories: Histories) -> npt.NDArray[np.float32]:
        """User vectors ``(len(histories), d)`` for ad-hoc histories, without refitting items."""


class ALSRecommender(_FactorRecommender[ALSConfig]):
    """Implicit-feedback ALS with confidence weights (``implicit.cpu.als``, conjugate-gradient solver).

    New histories are folded in with ALS's own exact least-squares user step
    (``AlternatingLeastSquares.recalculate_user``) against the learned item factors.
    """

    name = "als"
    config_class = ALSConfig
    _model: AlternatingLeastSquares | None = None

    def _fit(self, dataset: Dataset) -> None:
        with threadpool_limits(1, "blas"):
            model = self._implicit_model()
            model.fit(dataset.matrix("binary"), show_progress=False)
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._model = None

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        super()._set_state(state)
        self._model = None

    def fold_in(self, histories: Histories) -> npt.NDArray[np.float32]:
        """Solve ALS's user step for each history against the fixed item factors."""
        with threadpool_limits(1, "blas"):
            if self._model is None:
                # Kept between calls: it caches Y^T Y, the costly part of a one-user solve.
                self._model = self._implicit_model()
                self._model.item_factors = self._item_factors
            vectors = self._model.recalculate_user(np.arange(len(histories)), histories.csr)
        return np.asarray(vectors, dtype=np.float32).reshape(len(histories), -1)

    def _implicit_model(self) -> AlternatingLeastSquares:
        config = self.config
        return AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=config.alpha,
            iterations=config.iterations,
            num_threads=config.num_threads,
            random_state=config.seed,
        )


class BPRRecommender(_FactorRecommender[BPRConfig]):
    """Bayesian personalised ranking by SGD (``implicit.cpu.bpr``).

    ``implicit`` appends an item-bias column to the item factors and a constant 1 to the user
    factors, so ``user_factors @ item_factors.T`` already includes the bias.
    """

    name = "bpr"
    config_class = BPRConfig

    def _fit(self, dataset: Dataset) -> None:
        config = self.config
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=config.factors,
                learning_rate=config.learning_rate,
                regularization=config.regularization,
                iterations=config.iterations,
                num_threads=config.num_threads,
                random_state=config.seed,
            )
            model.fit(dataset.matrix("binary"), show_progress=False)
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def fold_in(self, histories: Histories) -> npt.NDArray[np.float32]:
        """Represent each history by the mean latent vector of its items (bias slot 1).

        BPR has no closed-form user step. The item-based mean (as in FISM / asymmetric SVD) ranked
        held-out items as well as the learned user vectors on MovieLens and Amazon Beauty, and better
        than least-squares fits of the history, which over-fit a few items.
        """
        # The binary matrix counts a repeated item once, as training did.
        binary = histories.csr
        counts = np.diff(binary.indptr).astype(np.float32)
        vectors = np.ones((len(histories), self._item_factors.shape[1]), dtype=np.float32)
        vectors[:, :-1] = (binary @ self._item_factors[:, :-1]) / counts[:, None]
        return vectors
