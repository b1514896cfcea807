"""EASE: the closed-form shallow autoencoder of Steck (2019), "Embarrassingly Shallow Autoencoders".

With ``X`` the binary user x item matrix and ``P = (X^T X + l2 I)^-1``, the item-item weights are
``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_ii = 0``.
A user's scores are ``x_u @ B``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig


class EaseConfig(RecommenderConfig):
    """Configuration of :class:`EaseRecommender`.

    Attributes:
        l2: L2 regularisation added to the diagonal of the item-item Gram matrix. Larger values suit
            larger, denser data; 500 is good on MovieLens-small, sparser catalogues (Amazon) prefer
            ~50-200.
    """

    l2: float = Field(default=500.0, gt=0.0)


class EaseRecommender(Recommender[EaseConfig]):
    """Item-item linear model with a closed-form solution (EASE).

    The Gram matrix is built only over items with at least one training interaction: an item no one
    interacted with has an all-zero column in ``B`` anyway, so the result equals the full-catalogue
    solution while the cubic-cost inverse shrinks. Such items score 0.
    """

    name = "ease"
    config_class = EaseConfig

    def _fit(self, dataset: Dataset) -> None:
        matrix = dataset.matrix("binary")
        active = np.flatnonzero(np.diff(matrix.tocsc().indptr) > 0).astype(np.int64)
        sub = matrix[:, active]
        gram = (sub.T @ sub).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.l2
        # float64 Cholesky-based inverse: the Gram matrix is symmetric positive definite.
        precision = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False, assume_a="pos")
        del gram
        precision /= -np.diag(precision)[None, :]
        precision[np.diag_indices_from(precision)] = 0.0
        self._active = active
        self._weights = precision.astype(np.float32)

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self._score_matrix(histories.csr)

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._score_matrix(self._require_seen()[users])

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"active": self._active, "weights": self._weights}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._active = state["active"].astype(np.int64)
        self._weights = state["weights"]

    @property
    def weights(self) -> npt.NDArray[np.float32]:
        """The learned ``B`` restricted to :attr:`active_items` (rows and columns in that order)."""
        return self._weights

    @property
    def active_items(self) -> npt.NDArray[np.int64]:
        """Internal indices of the items the model was solved over (those with training data)."""
        return self._active

    def _score_matrix(self, rows: sp.csr_matrix) -> npt.NDArray[np.float32]:
        # Sparse @ dense costs O(history length x active items) per row, far below a dense product.
        if len(self._active) == rows.shape[1]:
            return np.asarray(rows @ self._weights, dtype=np.float32)
        partial = np.asarray(rows[:, self._active] @ self._weights, dtype=np.float32)
        scores = np.zeros(rows.shape, dtype=np.float32)
        scores[:, self._active] = partial
        return scores
