"""Low-rank EASE: the EASE solution with the item Gram matrix replaced by its top eigenpairs.

With ``G = X^T X ~ V diag(s) V^T`` (rank ``r``), the regularised inverse has the closed form
``P = (G + l2 I)^-1 ~ (I - V diag(s / (s + l2)) V^T) / l2``, and EASE's weights
``B = I - P diag(1 / diag(P))`` keep their zero diagonal exactly. Nothing ``items x items`` is ever
formed: a history ``h`` scores ``h - (h P) diag(1 / diag(P))`` with ``h P`` computed through ``V``, so
memory and time are linear in the items (``items x rank`` floats). The eigenpairs come from a randomized
range finder with power iterations (Halko, Martinsson & Tropp, 2011) over sparse products with ``X``.
At full rank this is EASE itself; lower ranks smooth the item-item weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig

_OVERSAMPLE = 16  # extra random directions of the range finder


class EaseLowRankConfig(RecommenderConfig):
    """Configuration of :class:`EaseLowRankRecommender`.

    Attributes:
        l2: L2 regularisation of the Gram matrix (as in EASE).
        rank: Eigenpairs of the Gram matrix kept (capped at the number of items and users).
        power_iterations: Power iterations of the randomized range finder (more: sharper eigenpairs).
        seed: Seed of the random directions.
    """

    l2: float = Field(default=100.0, gt=0.0)
    rank: int = Field(default=256, ge=1)
    power_iterations: int = Field(default=3, ge=0)
    seed: int = 0


class EaseLowRankRecommender(Recommender[EaseLowRankConfig]):
    """EASE for large catalogs: linear memory in the items through a low-rank Gram matrix."""

    name = "ease-lowrank"
    config_class = EaseLowRankConfig

    def _fit(self, dataset: Dataset) -> None:
        matrix = sp.csr_matrix(dataset.matrix("binary"), dtype=np.float64)
        vectors, values = gram_eigenpairs(
            matrix, self.config.rank, self.config.power_iterations, self.config.seed
        )
        shrink = values / (values + self.config.l2)
        # diag(P) * l2 = 1 - sum_k V_ik^2 s_k / (s_k + l2); always in (0, 1].
        diagonal = 1.0 - (vectors * vectors) @ shrink
        # Kept in float64: scores rounded to float32 from float64 sums keep exact ties between items the
        # data cannot tell apart, whatever the batch size (float32 GEMMs would break them at random).
        self._vectors = vectors
        self._shrink = shrink
        self._inverse_diagonal = 1.0 / np.maximum(diagonal, 1e-12)

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self._score_matrix(histories.csr)

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._score_matrix(self._require_seen()[users])

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"vectors": self._vectors, "shrink": self._shrink, "inverse_diagonal": self._inverse_diagonal}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._vectors = state["vectors"]
        self._shrink = state["shrink"]
        self._inverse_diagonal = state["inverse_diagonal"]

    def _score_matrix(self, rows: sp.csr_matrix) -> npt.NDArray[np.float32]:
        dense = np.asarray(rows.toarray(), dtype=np.float64)
        # l2 * (h P) = h - ((h V) * shrink) V^T; the l2 factor cancels against diag(P) = diagonal / l2.
        projected = np.asarray(rows @ self._vectors, dtype=np.float64) * self._shrink
        scaled = dense - projected @ self._vectors.T
        return np.asarray(dense - scaled * self._inverse_diagonal, dtype=np.float32)


def gram_eigenpairs(
    matrix: sp.csr_matrix, rank: int, power_iterations: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The top ``rank`` eigenvectors (``items x rank``) and eigenvalues of ``X^T X``, never forming it.

    A randomized range finder: ``Q`` spans ``(X^T X)^q X^T X Omega`` for a Gaussian ``Omega``,
    re-orthonormalised after every product; the small ``Q^T X^T X Q`` is then decomposed exactly.
    """
    n_users, n_items = matrix.shape
    rank = min(rank, n_items, n_users)
    width = min(rank + _OVERSAMPLE, n_items)
    omega = np.random.default_rng(seed).standard_normal((n_items, width))
    basis, _ = np.linalg.qr(np.asarray(matrix.T @ (matrix @ omega)))
    for _ in range(power_iterations):
        basis, _ = np.linalg.qr(np.asarray(matrix.T @ (matrix @ basis)))
    projected = np.asarray(matrix @ basis)
    small = projected.T @ projected
    values, rotation = np.linalg.eigh(small)
    top = np.argsort(values)[::-1][:rank]
    return basis @ rotation[:, top], np.maximum(values[top], 0.0)
