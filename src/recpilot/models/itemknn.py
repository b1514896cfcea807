"""Item-based k-nearest-neighbours with (shrunk) cosine similarity."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig

_BLOCK_BUDGET = 2**24  # floats in one dense similarity block (64 MiB): bounds memory on large catalogues


class ItemKNNConfig(RecommenderConfig):
    """Configuration of :class:`ItemKNNRecommender`.

    Attributes:
        neighbors: How many most-similar items to keep per item (the item itself never counts).
        shrinkage: Added to the cosine denominator, ``x_i.x_j / (|x_i||x_j| + shrinkage)``; damps
            similarities resting on few co-occurrences.
        values: Item vectors for the similarity: ``"binary"`` interactions or ``"rating"`` values.
            Histories are always scored as binary (a history is a list of items).
    """

    neighbors: int = Field(default=50, ge=1)
    shrinkage: float = Field(default=0.0, ge=0.0)
    values: Literal["binary", "rating"] = "binary"


class ItemKNNRecommender(Recommender[ItemKNNConfig]):
    """Scores items by summed similarity to the history: ``scores = history @ S``.

    ``S`` is sparse: row ``i`` holds the ``neighbors`` items most similar to item ``i``. It is
    computed in row blocks (sparse ``X^T X`` per block, densified only for that block) so memory stays
    bounded for large catalogues.
    """

    name = "itemknn"
    config_class = ItemKNNConfig

    def _fit(self, dataset: Dataset) -> None:
        self._similarity = item_similarity(
            dataset.matrix(self.config.values), self.config.neighbors, self.config.shrinkage
        )

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self._score_matrix(histories.csr)

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._score_matrix(self._require_seen()[users])

    def _similar_items(self, item: int) -> npt.NDArray[np.float32]:
        return np.asarray(self._similarity[item].toarray(), dtype=np.float32).ravel()

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        sim = self._similarity
        return {"sim_data": sim.data, "sim_indices": sim.indices, "sim_indptr": sim.indptr}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        n = len(state["sim_indptr"]) - 1
        self._similarity = sp.csr_matrix(
            (state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=(n, n)
        )

    @property
    def similarity(self) -> sp.csr_matrix:
        """The pruned ``(n_items, n_items)`` similarity matrix (row ``i``: neighbours of item ``i``)."""
        return self._similarity

    def _score_matrix(self, rows: sp.csr_matrix) -> npt.NDArray[np.float32]:
        return np.asarray((rows @ self._similarity).toarray(), dtype=np.float32)


def item_similarity(matrix: sp.csr_matrix, neighbors: int, shrinkage: float = 0.0) -> sp.csr_matrix:
    """Top-``neighbors`` cosine similarities per item of a user x item matrix.

    Args:
        matrix: ``(n_users, n_items)`` interaction values.
        neighbors: Neighbours kept per item; only positive similarities are kept.
        shrinkage: Added to the denominator of the cosine.

    Returns:
        ``(n_items, n_items)`` float32 CSR; the diagonal is empty.
    """
    n_items = matrix.shape[1]
    user_item = sp.csr_matrix(matrix, dtype=np.float32)
    by_item = user_item.T.tocsr()
    norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1), dtype=np.float32).ravel())
    # An item without interactions has only zero dot products; a unit norm keeps its row at 0 without a
    # division by zero.
    norms[norms == 0] = 1.0
    keep = min(neighbors, max(n_items - 1, 1))
    block = max(1, _BLOCK_BUDGET // max(1, n_items))
    data: list[npt.NDArray[np.float32]] = []
    indices: list[npt.NDArray[np.int32]] = []
    counts = np.zeros(n_items, dtype=np.int64)
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        sims = np.asarray((by_item[start:stop] @ user_item).toarray(), dtype=np.float32)
        sims /= norms[start:stop, None] * norms[None, :] + np.float32(shrinkage)
        sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if keep < n_items:
            top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        else:
            top = np.broadcast_to(np.arange(n_items), sims.shape)
        values = np.take_along_axis(sims, top, axis=1)
        positive = values > 0
        counts[start:stop] = positive.sum(axis=1)
        # Columns sorted within each row keep the CSR canonical, which fast sparse products rely on.
        order = np.argsort(np.where(positive, top, n_items), axis=1)
        top_sorted = np.take_along_axis(top, order, axis=1)
        values_sorted = np.take_along_axis(values, order, axis=1)
        mask = np.take_along_axis(positive, order, axis=1)
        data.append(values_sorted[mask].astype(np.float32))
        indices.append(top_sorted[mask].astype(np.int32))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.empty(0, np.float32),
            np.concatenate(indices) if indices else np.empty(0, np.int32),
            indptr,
        ),
        shape=(n_items, n_items),
    )
