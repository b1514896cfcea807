"""EASE: the closed-form shallow autoencoder of Steck (2019), "Embarrassingly Shallow Autoencoders".

With ``X`` the binary user x item matrix and ``P = (X^T X + l2 I)^-1``, the item-item weights are
``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_ii = 0``.
A user's scores are ``x_u @ B``.

The dense solution needs memory quadratic in the items (about 12 bytes per item pair at the peak):
:func:`fit_memory_bytes` states it and the fit refuses, before any work, when it would not fit in the
memory available; :class:`~recpilot.models.ease_lowrank.EaseLowRankRecommender` is the variant for
large catalogs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import Field
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from recpilot.data.dataset import Dataset
from recpilot.errors import DataError
from recpilot.models.base import Histories, Recommender, RecommenderConfig

_MIRROR_BLOCK = 1024  # rows per step when copying the inverse's upper triangle into the lower one
#: From this order on, LAPACK runs single-threaded: OpenBLAS's threaded Cholesky (``dpotrf_*_parallel``)
#: has crashed with SIGSEGV on large matrices (OpenMathLib/OpenBLAS#1413, #2821; issue 13 saw it at
#: 18,357 items with 2 threads). Below it the threaded path is fast and has been reliable.
SINGLE_THREAD_ORDER = 8192
_GB = 1024**3
#: Scoring a pool gathers ``history x pool`` weights instead of streaming ``history x items``: a gathered
#: weight costs ~16 streamed ones (CPU time, 2,698-item history), so pools up to this share gather.
GATHER_SHARE = 1 / 16

logger = logging.getLogger(__name__)


class EaseConfig(RecommenderConfig):
    """Configuration of :class:`EaseRecommender`.

    Attributes:
        l2: L2 regularisation added to the diagonal of the item-item Gram matrix. In leave-last-out
            tests 50-200 was best on both MovieLens-small and Amazon Beauty (500, common in papers
            on larger data, ranked 5-12% worse); tune it per dataset.
    """

    l2: float = Field(default=100.0, gt=0.0)


class EaseRecommender(Recommender[EaseConfig]):
    """Item-item linear model with a closed-form solution (EASE).

    The Gram matrix is built only over items with at least one training interaction: an item no one
    interacted with has an all-zero column in ``B`` anyway, so the result equals the full-catalogue
    solution while the cubic-cost inverse shrinks. Such items score 0. See :func:`item_precision`
    for how the inverse is computed.
    """

    name = "ease"
    config_class = EaseConfig

    def fit_memory_bytes(self, dataset: Dataset) -> int:
        """Peak memory of the fit on ``dataset`` (see :func:`fit_memory_bytes`)."""
        active = int((np.diff(dataset.matrix("binary").tocsc().indptr) > 0).sum())
        return fit_memory_bytes(dataset.n_users, active)

    def _fit(self, dataset: Dataset) -> None:
        matrix = dataset.matrix("binary")
        active = np.flatnonzero(np.diff(matrix.tocsc().indptr) > 0).astype(np.int64)
        check_memory(dataset.name, matrix.shape[0], len(active))
        precision = item_precision(matrix[:, active], self.config.l2)
        precision /= -np.diag(precision)[None, :]
        precision[np.diag_indices_from(precision)] = 0.0
        self._active = active
        self._weights = precision.astype(np.float32)
        self._rows = _rows_of(active, matrix.shape[1])

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self._score_matrix(histories.csr)

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._score_matrix(self._require_seen()[users])

    def _score_users_at(
        self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        return self._score_columns(self._require_seen()[users], items)

    def _score_histories_at(
        self, histories: Histories, items: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        return self._score_columns(histories.csr, items)

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"active": self._active, "weights": self._weights}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._active = state["active"].astype(np.int64)
        self._weights = state["weights"]
        self._rows = _rows_of(self._active, self.n_items)

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

    def _score_columns(self, rows: sp.csr_matrix, items: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """:meth:`_score_matrix` restricted to ``items``, the same float32 values.

        A user with a long history (ml-latest-small has one of 2,698 items) streams ~100 MB of weights
        for a full row; a small candidate pool needs only the history x pool entries. They are gathered
        and summed by the same sparse product kernel over the history in the same order, so the values
        are bit for bit the full product's.
        """
        if len(items) > GATHER_SHARE * len(self._active):
            return self._score_matrix(rows)[:, items]
        wanted = self._rows[items]
        known = wanted >= 0
        targets = wanted[known]
        if not rows.has_sorted_indices:
            rows = rows.sorted_indices()
        out = np.zeros((rows.shape[0], len(items)), dtype=np.float32)
        for r in range(rows.shape[0]):
            span = slice(rows.indptr[r], rows.indptr[r + 1])
            history = self._rows[rows.indices[span]]
            present = history >= 0
            if not present.any():
                continue
            weights = rows.data[span][present]
            picker = sp.csr_matrix(
                (weights, np.arange(len(weights)), [0, len(weights)]), shape=(1, len(weights))
            )
            out[r, known] = np.asarray(picker @ self._weights[np.ix_(history[present], targets)])[0]
        return out


def _rows_of(active: npt.NDArray[np.int64], n_items: int) -> npt.NDArray[np.int64]:
    """Each item's row (and column) in the weights, -1 for an item without training data."""
    rows = np.full(n_items, -1, dtype=np.int64)
    rows[active] = np.arange(len(active))
    return rows


def fit_memory_bytes(n_users: int, n_items: int) -> int:
    """Peak memory of an EASE fit over ``n_items`` items with training data, in bytes (an estimate).

    The ``items x items`` float64 inverse and its float32 copy (12 bytes per pair) dominate; with fewer
    users than items (the Woodbury path) the ``items x users`` solve and the ``users x users`` inverse
    add 8 bytes per entry each.
    """
    peak = 12 * n_items * n_items
    if n_users < n_items:
        peak += 8 * n_items * n_users + 8 * n_users * n_users
    return peak


def available_memory_bytes() -> int | None:
    """Memory the kernel reports as available (``MemAvailable``), None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(dataset: str, n_users: int, n_items: int) -> None:
    """Log the memory an EASE fit needs and refuse when it exceeds what is available.

    Raises:
        DataError: The fit would need more memory than is available (the message names both and the
            low-rank alternative).
    """
    needed = fit_memory_bytes(n_users, n_items)
    available = available_memory_bytes()
    logger.info("EASE on %s: %d items, about %.1f GB at the peak", dataset, n_items, needed / _GB)
    if available is not None and needed > available:
        raise DataError(
            f"EASE on {dataset!r} needs about {needed / _GB:.1f} GB to fit {n_items:,} items (a dense "
            f"{n_items:,} x {n_items:,} inverse) but {available / _GB:.1f} GB is available; use "
            "'ease-lowrank' (memory linear in the items) or 'itemknn' for this catalog"
        )


def item_precision(matrix: sp.csr_matrix, l2: float) -> npt.NDArray[np.float64]:
    """``P = (X^T X + l2 I)^-1`` for a user x item matrix ``X``, in float64.

    With fewer users than items the Woodbury identity
    ``P = (I - X^T (X X^T + l2 I)^-1 X) / l2`` replaces the ``items^3`` inverse by a ``users^3`` one
    plus one ``items x items`` product (MovieLens-small: 610 users, 9.7k items, ~15x less work).
    Otherwise the item Gram matrix is inverted directly (:func:`spd_inverse`). Both are exact.
    """
    n_users, n_items = matrix.shape
    rows = sp.csr_matrix(matrix, dtype=np.float64)
    if n_users < n_items:
        inner = np.asarray((rows @ rows.T).toarray())
        inner[np.diag_indices_from(inner)] += l2
        inner_inverse = spd_inverse(inner)
        # (X^T M)^T = M X because M is symmetric; both products are sparse x dense.
        solved = np.ascontiguousarray(np.asarray(rows.T @ inner_inverse).T)
        precision = np.asarray(rows.T @ solved)
        precision *= -1.0
        precision[np.diag_indices_from(precision)] += 1.0
        precision /= l2
        return precision
    gram = np.asarray((rows.T @ rows).toarray())
    gram[np.diag_indices_from(gram)] += l2
    return spd_inverse(gram)


def spd_inverse(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inverse of a symmetric positive-definite matrix, computed in place (``matrix`` is overwritten).

    Cholesky factorisation and inversion straight from LAPACK (``potrf`` + ``potri``): about half the
    work of a general inverse and no extra ``n x n`` copies, which matters at 10k+ items. LAPACK
    fills one triangle; the other is mirrored block by block to keep temporaries small.

    Raises:
        DataError: If the matrix is not positive definite (impossible for a Gram matrix plus ``l2 > 0``
            unless it holds NaN or infinite values).
    """
    # The transpose of a C-ordered array is Fortran-ordered, so LAPACK works on it without a copy; the
    # matrix is symmetric, so it is the same matrix.
    threads = 1 if matrix.shape[0] >= SINGLE_THREAD_ORDER else None
    with threadpool_limits(threads, "blas"):
        factor, info = lapack.dpotrf(matrix.T, lower=False, clean=False, overwrite_a=True)
        if info == 0:
            upper, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise DataError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK info={info})")
    # Back in C order the valid triangle is the lower one; mirror it into the upper one.
    inverse: npt.NDArray[np.float64] = upper.T
    n = inverse.shape[0]
    for start in range(0, n, _MIRROR_BLOCK):
        stop = min(start + _MIRROR_BLOCK, n)
        block = inverse[start:stop, start:stop]
        inverse[start:stop, start:stop] = np.tril(block) + np.tril(block, -1).T
        inverse[start:stop, stop:] = inverse[stop:, start:stop].T
    return inverse
