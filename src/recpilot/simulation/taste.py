"""The simulator's collaborative taste signal: a consensus of recommender families that favours none.

A simulator whose preference model is one recommender family rewards the recommenders of that family:
they find the items its scores put on top because both generalise from the log the same way, not
because users like those items more (the audit showed it with a low-rank taste block, which lifted
ALS and BPR). The consensus instead asks three families the same question, "which items does this
user's history point to?", and averages their answers on a scale they share, the rank:

- **neighbourhood**: cosine item-item similarity, top ``neighbors`` per item (item-kNN);
- **linear autoencoder**: the closed-form item-item regression of EASE (Steck 2019);
- **low rank**: the projection on the top ``factors`` right singular vectors (PureSVD).

Each is an item-item matrix ``M`` applied to the user's logged items, ``s_ui = sum_{j != i} x_uj M_ji``
(a logged item's own entry left out, so a logged cell is scored as an unlogged one would be). Per user,
each family's scores become ranks over the catalog (ties averaged), and the consensus is the mean of
``-log(rank / n_items)`` over the families: every family counts the same and no scale of any family
leaks in (a family with larger raw scores gets no more say). Popularity, the fourth family under test,
is not in it: the like model's item bias already carries how much an item is liked in general.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from scipy.stats import rankdata

from recpilot.models.ease import item_precision
from recpilot.models.itemknn import item_similarity

FloatArray = npt.NDArray[np.float64]
Family = Callable[[sp.csr_matrix], npt.NDArray[np.float32]]

#: Settings of the families: as the registry's recommenders are configured by default (item-kNN's
#: neighbours, EASE's L2), so no family is weakened against another.
NEIGHBORS = 50
EASE_L2 = 100.0


def neighbourhood_scores(binary: sp.csr_matrix, neighbors: int = NEIGHBORS) -> npt.NDArray[np.float32]:
    """Item-kNN scores ``X S`` (cosine, top ``neighbors`` per item, empty diagonal)."""
    similarity = item_similarity(binary, neighbors)
    return np.asarray((sp.csr_matrix(binary, dtype=np.float32) @ similarity).toarray(), dtype=np.float32)


def autoencoder_scores(binary: sp.csr_matrix, l2: float = EASE_L2) -> npt.NDArray[np.float32]:
    """EASE scores ``X B``, ``B = I - P diag(1 / diag P)``, ``P = (X'X + l2 I)^-1`` (zero diagonal).

    With fewer users than items, ``X P = (X X' + l2 I)^-1 X`` and
    ``diag P = (1 - diag(X' (X X' + l2 I)^-1 X)) / l2`` (Woodbury): only a users x users system is
    solved and no items x items matrix is formed (MovieLens-small: 610 x 610 instead of 9.7k x 9.7k).
    """
    rows = sp.csr_matrix(binary, dtype=np.float64)
    n_users, n_items = rows.shape
    if n_users < n_items:
        inner = np.asarray((rows @ rows.T).toarray())
        inner[np.diag_indices_from(inner)] += l2
        solved = np.linalg.solve(inner, rows.toarray())  # (X X' + l2 I)^-1 X = X P
        diagonal = (1.0 - np.asarray(rows.multiply(solved).sum(axis=0)).ravel()) / l2
        return np.asarray(rows.toarray() - solved / diagonal[None, :], dtype=np.float32)
    precision = item_precision(rows, l2)
    weights = -precision / np.diag(precision)[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return np.asarray(rows @ weights, dtype=np.float32)


def low_rank_scores(binary: sp.csr_matrix, factors: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """PureSVD scores ``X V V'`` with each logged item's own term ``x_ui (V V')_ii`` taken out."""
    rows = sp.csr_matrix(binary, dtype=np.float64)
    d = min(factors, min(rows.shape) - 1)
    if d < 1:
        return np.zeros(rows.shape, dtype=np.float32)
    v0 = np.random.default_rng([seed, 0x5FD]).random(min(rows.shape))
    _, _, vt = svds(rows, k=d, v0=v0)
    scores = np.asarray(rows @ vt.T) @ vt
    scores -= rows.toarray() * np.einsum("fi,fi->i", vt, vt)[None, :]
    return np.asarray(scores, dtype=np.float32)


def popularity_scores(binary: sp.csr_matrix) -> npt.NDArray[np.float32]:
    """How many users logged each item, a logged item's own entry left out (the same for every user)."""
    rows = sp.csr_matrix(binary, dtype=np.float32)
    counts = np.asarray(rows.sum(axis=0), dtype=np.float32).ravel()
    return np.asarray(counts[None, :] - rows.toarray(), dtype=np.float32)


#: The families the consensus can ask, by name.
FAMILY_NAMES = ("popularity", "neighbourhood", "linear_autoencoder", "low_rank")


def family_scores(
    binary: sp.csr_matrix, families: tuple[str, ...], *, factors: int, seed: int = 0
) -> dict[str, npt.NDArray[np.float32]]:
    """The ``families``' ``(n_users, n_items)`` scores of a binary user x item log."""
    makers: dict[str, Callable[[], npt.NDArray[np.float32]]] = {
        "popularity": lambda: popularity_scores(binary),
        "neighbourhood": lambda: neighbourhood_scores(binary),
        "linear_autoencoder": lambda: autoencoder_scores(binary),
        "low_rank": lambda: low_rank_scores(binary, factors, seed),
    }
    return {name: makers[name]() for name in families}


def rank_consensus(scores: dict[str, npt.NDArray[np.float32]] | list[npt.NDArray[np.float32]]) -> FloatArray:
    """Per user, the mean over families of ``-log(rank / n_items)`` (rank 1 = the family's top item).

    Symmetric in the families and invariant to any increasing transform of one family's scores.
    """
    members = list(scores.values()) if isinstance(scores, dict) else list(scores)
    if not members:
        raise ValueError("rank_consensus needs at least one family's scores")
    n_items = members[0].shape[1]
    total = np.zeros(members[0].shape, dtype=np.float64)
    for member in members:
        total -= np.log(rankdata(-member, method="average", axis=1) / n_items)
    out: FloatArray = total / len(members)
    return out


class TasteBlock:
    """The like model's collaborative taste columns of ``(user, item)`` pairs.

    ``consensus``: one column, :func:`rank_consensus` of ``families`` (held as a users x items table);
    ``svd``: one column per factor, ``x_uf y_if`` of the truncated SVD of the log (the low-rank block
    the engine used before the consensus; it favours ALS and BPR).

    Args:
        binary: The logged user x item matrix (binary).
        kind: ``consensus`` or ``svd``.
        families: The consensus's families (:data:`FAMILY_NAMES`).
        factors: SVD size (the block's for ``svd``, the low-rank family's for ``consensus``).
        seed: Seed of the SVD's start vector.
    """

    def __init__(
        self, binary: sp.csr_matrix, kind: str, families: tuple[str, ...], *, factors: int, seed: int
    ) -> None:
        self.kind = kind
        n_users, n_items = binary.shape
        self._table: npt.NDArray[np.float32] | None = None
        if kind == "consensus":
            self._table = rank_consensus(family_scores(binary, families, factors=factors, seed=seed)).astype(
                np.float32
            )
            self._user, self._item = np.zeros((n_users, 0)), np.zeros((n_items, 0))
        else:
            self._user, self._item = svd_factors(binary, factors, seed)
        # contiguous columns for the pair logits
        self._user_columns = np.ascontiguousarray(self._user.T)
        self._item_columns = np.ascontiguousarray(self._item.T)

    @property
    def width(self) -> int:
        """Number of design columns (and fitted weights)."""
        return 1 if self._table is not None else int(self._user.shape[1])

    def columns(self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> FloatArray:
        """Design columns of aligned pairs, ``(n, width)``."""
        if self._table is not None:
            out: FloatArray = self._table[users, items].astype(np.float64)[:, None]
            return out
        product: FloatArray = self._user[users] * self._item[items]
        return product

    def pair_logit(
        self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64], weights: FloatArray
    ) -> FloatArray:
        """The block's logit of aligned pairs (any shape), each element summed alone in a fixed order."""
        if self._table is not None:
            out: FloatArray = self._table[users, items].astype(np.float64) * float(weights[0])
            return out
        total: FloatArray = np.zeros(users.shape)
        for f, weight in enumerate(weights.tolist()):
            total = total + self._user_columns[f][users] * self._item_columns[f][items] * weight
        return total

    def dense_logit(self, rows: npt.NDArray[np.int64], weights: FloatArray) -> FloatArray:
        """The block's logit of ``rows`` x the whole catalog."""
        if self._table is not None:
            out: FloatArray = self._table[rows].astype(np.float64) * float(weights[0])
            return out
        dense: FloatArray = np.einsum("uf,if->ui", self._user[rows] * weights, self._item)
        return dense


def svd_factors(binary: sp.csr_matrix, factors: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """User and item factors ``U sqrt(S)``, ``V sqrt(S)`` of the truncated SVD of the logged matrix."""
    rows = sp.csr_matrix(binary, dtype=np.float64)
    d = min(factors, min(rows.shape) - 1)
    if d < 1:
        return np.zeros((rows.shape[0], 0)), np.zeros((rows.shape[1], 0))
    v0 = np.random.default_rng([seed, 0x5FD]).random(min(rows.shape))
    u, sigma, vt = svds(rows, k=d, v0=v0)
    root = np.sqrt(sigma)
    return u * root, vt.T * root
