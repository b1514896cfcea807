"""Ranking metrics: pure, vectorised functions of (ranked lists, truth).

Every metric takes

- ``ranked``: an ``(n_users, L)`` integer array of internal item indices, best first, padded with ``-1``
  when a list is shorter than ``L``;
- ``truth``: a binary ``(n_users, n_items)`` scipy CSR matrix whose row ``i`` marks the relevant items
  of the user in row ``i`` of ``ranked`` (any non-zero entry counts as relevant);
- ``k``: the cutoff, ``1 <= k <= L``;

and returns one float64 value per user. Conventions (binary relevance, ``hits`` = relevant items among
the first ``k`` entries, ``R`` = number of relevant items of the user):

- ``hr@k`` (hit rate): 1 if ``hits > 0`` else 0.
- ``recall@k``: ``hits / R`` (as ranx, RecBole and most libraries; it cannot reach 1 when ``R > k``).
- ``precision@k``: ``hits / k``, also for lists shorter than ``k`` (padding counts as a miss).
- ``ndcg@k``: DCG with linear gain and ``1 / log2(rank + 1)`` discount, divided by the ideal DCG of
  ``min(R, k)`` hits at the top.
- ``mrr@k``: ``1 / rank`` of the first hit within ``k``, else 0.
- ``map@k`` (average precision): the sum of ``precision@j`` over hit positions ``j <= k``, divided by
  ``min(R, k)`` so a perfect list scores 1. ranx 0.3 divides by ``R`` instead; the two agree whenever
  ``R <= k`` (always so for leave-last-out).

Users with no relevant item score 0 on every metric. Such rows carry no information and would drag
every mean down, so callers exclude them (the evaluation runner only scores users with held-out items).
Padding (``-1``) is never a hit, and an item repeated within a list counts only at its first position,
so lists written by hand or by an LLM cannot inflate scores through duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpilot.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.int64]


def check_ranked(ranked: npt.ArrayLike) -> IndexArray:
    """Validate ranked lists and return them as an int64 array.

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.

    Returns:
        The same lists as a 2-D int64 array.

    Raises:
        ConfigError: If the array is not 2-D integers or holds a negative index other than ``-1``.
    """
    array = np.asarray(ranked)
    if array.ndim != 2:
        raise ConfigError(f"ranked lists must be a 2-D (n_users, k) array, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ConfigError(f"ranked lists must hold integer item indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < -1:
        raise ConfigError("ranked lists may only use -1 as padding; found a smaller negative index")
    return array


def first_occurrences(ranked: npt.ArrayLike) -> BoolArray:
    """Mask of the entries that are the first occurrence of their item in their list (padding excluded).

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.

    Returns:
        ``(n_users, L)`` booleans; False for padding and for repeats of an item seen earlier in the row.
    """
    lists = check_ranked(ranked)
    if lists.shape[1] == 0:
        return np.zeros(lists.shape, dtype=bool)
    # A stable sort keeps equal items in rank order, so the first of each run is the earliest one.
    order = np.argsort(lists, axis=1, kind="stable")
    in_order = np.take_along_axis(lists, order, axis=1)
    first_sorted = np.ones(lists.shape, dtype=bool)
    first_sorted[:, 1:] = in_order[:, 1:] != in_order[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first & (lists >= 0)


def membership(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray) -> BoolArray:
    """Whether each listed item is marked in the matching row of ``truth`` (repeats not deduplicated).

    The lookup is one ``searchsorted`` of ``row * n_items + item`` keys into the sorted keys of
    ``truth``: no Python loop over users.

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        truth: ``(n_users, n_items)`` sparse matrix; non-zero entries are members.

    Returns:
        ``(n_users, L)`` booleans; padding is never a member.

    Raises:
        ConfigError: If the shapes disagree or an index is outside the item space.
    """
    lists = check_ranked(ranked)
    matrix = _canonical_csr(truth)
    n_users, n_items = matrix.shape
    if lists.shape[0] != n_users:
        raise ConfigError(
            f"ranked lists have {lists.shape[0]} rows but truth has {n_users}; "
            "row i of both must describe the same user"
        )
    if lists.size and lists.max() >= n_items:
        raise ConfigError(
            f"ranked lists hold item index {int(lists.max())}, but truth has only {n_items} items"
        )
    valid = lists >= 0
    if matrix.nnz == 0 or lists.size == 0:
        return np.zeros(lists.shape, dtype=bool)
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(matrix.indptr))
    # Canonical CSR is row-major with sorted column indices, so these keys are strictly increasing.
    keys = rows * n_items + matrix.indices.astype(np.int64)
    queries = np.arange(n_users, dtype=np.int64)[:, None] * n_items + lists
    positions = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    found: BoolArray = (keys[positions] == queries) & valid
    return found


def hit_matrix(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray) -> BoolArray:
    """Which list entries are hits: relevant, not padding, and the first occurrence of their item.

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        truth: ``(n_users, n_items)`` binary relevance.

    Returns:
        ``(n_users, L)`` booleans.
    """
    hits: BoolArray = membership(ranked, truth) & first_occurrences(ranked)
    return hits


def relevant_counts(truth: sp.spmatrix | sp.sparray) -> npt.NDArray[np.int64]:
    """Number of relevant items per row of ``truth`` (explicit zeros and duplicates ignored)."""
    counts: npt.NDArray[np.int64] = np.diff(_canonical_csr(truth).indptr).astype(np.int64)
    return counts


# -- metrics from a hit matrix (shared by the public functions and by ranking_metrics) ------------------


def _hits_at(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    counts: FloatArray = np.count_nonzero(hits[:, :k], axis=1).astype(np.float64)
    return counts


def _hit_rate(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    return (_hits_at(hits, n_relevant, k) > 0).astype(np.float64)


def _recall(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    return _safe_divide(_hits_at(hits, n_relevant, k), n_relevant)


def _precision(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    return _hits_at(hits, n_relevant, k) / k


def _ndcg(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = hits[:, :k].astype(np.float64) @ discounts
    ideal_prefix = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_prefix[np.minimum(n_relevant, k)]
    return _safe_divide(dcg, idcg)


def _mrr(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    top = hits[:, :k]
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _average_precision(hits: BoolArray, n_relevant: npt.NDArray[np.int64], k: int) -> FloatArray:
    top = hits[:, :k].astype(np.float64)
    precision_at = np.cumsum(top, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    return _safe_divide((precision_at * top).sum(axis=1), np.minimum(n_relevant, k))


_FromHits = Callable[[BoolArray, npt.NDArray[np.int64], int], FloatArray]

_BY_NAME: dict[str, _FromHits] = {
    "ndcg": _ndcg,
    "recall": _recall,
    "mrr": _mrr,
    "hr": _hit_rate,
    "precision": _precision,
    "map": _average_precision,
}

RANKING_METRICS: tuple[str, ...] = tuple(_BY_NAME)
"""Names of the ranking metrics, in report order; report keys are ``f"{name}@{k}"``."""


def check_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate ranking metric names (see :data:`RANKING_METRICS`).

    Raises:
        ConfigError: If a name is unknown or none is given.
    """
    if isinstance(names, str):
        names = (names,)
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown:
        raise ConfigError(f"unknown ranking metric(s) {unknown}; choose from {', '.join(RANKING_METRICS)}")
    if not names:
        raise ConfigError(f"no ranking metric requested; choose from {', '.join(RANKING_METRICS)}")
    return tuple(dict.fromkeys(names))


def ranking_metrics(
    ranked: npt.ArrayLike,
    truth: sp.spmatrix | sp.sparray,
    k: int | Sequence[int],
    metrics: Sequence[str] = RANKING_METRICS,
) -> dict[str, FloatArray]:
    """Several metrics at several cutoffs from one hit-matrix computation.

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        truth: ``(n_users, n_items)`` binary relevance.
        k: One cutoff or several, each ``<= L``.
        metrics: Names from :data:`RANKING_METRICS`.

    Returns:
        ``{"ndcg@10": per-user values, ...}`` in the order of ``metrics`` then ``k``.
    """
    lists = check_ranked(ranked)
    cutoffs = check_cutoffs(k, lists.shape[1])
    names = check_metric_names(metrics)
    hits = hit_matrix(lists, truth)
    n_relevant = relevant_counts(truth)
    return {f"{name}@{cut}": _BY_NAME[name](hits, n_relevant, cut) for name in names for cut in cutoffs}


def check_cutoffs(k: int | Sequence[int], list_length: int | None = None) -> tuple[int, ...]:
    """Validate one cutoff or several and return them sorted without repeats.

    Args:
        k: A positive cutoff or a sequence of them.
        list_length: If given, the length of the ranked lists, which no cutoff may exceed.

    Raises:
        ConfigError: If a cutoff is not a positive integer or exceeds ``list_length``.
    """
    values: list[Any] = [k] if isinstance(k, int | np.integer) else list(k)
    if not values:
        raise ConfigError("at least one cutoff k is required")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"cutoff k must be a positive integer, got {value!r}")
        if list_length is not None and value > list_length:
            raise ConfigError(f"cutoff k={value} exceeds the ranked list length {list_length}")
    return tuple(sorted({int(value) for value in values}))


def _single(name: str, ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    return ranking_metrics(ranked, truth, k, (name,))[f"{name}@{k}"]


def hit_rate(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user hit rate at ``k``: 1.0 if any of the first ``k`` entries is relevant, else 0.0."""
    return _single("hr", ranked, truth, k)


def recall(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user recall at ``k``: relevant items in the first ``k`` entries over all relevant items."""
    return _single("recall", ranked, truth, k)


def precision(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user precision at ``k``: relevant items in the first ``k`` entries over ``k``."""
    return _single("precision", ranked, truth, k)


def ndcg(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user normalised DCG at ``k`` (linear gain, ideal DCG over ``min(R, k)`` hits)."""
    return _single("ndcg", ranked, truth, k)


def mrr(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user reciprocal rank of the first relevant entry within ``k`` (0.0 if none)."""
    return _single("mrr", ranked, truth, k)


def average_precision(ranked: npt.ArrayLike, truth: sp.spmatrix | sp.sparray, k: int) -> FloatArray:
    """Per-user average precision at ``k``, normalised by ``min(R, k)``; MAP@k is its mean."""
    return _single("map", ranked, truth, k)


def _canonical_csr(truth: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    if not sp.issparse(truth):
        raise ConfigError(f"truth must be a scipy sparse matrix, got {type(truth).__name__}")
    matrix = sp.csr_matrix(truth)
    if matrix.has_canonical_format and (matrix.data != 0).all():
        return matrix
    # Copy before fixing so the caller's matrix is never modified (metrics are pure).
    matrix = matrix.copy()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def _safe_divide(numerator: FloatArray, denominator: npt.NDArray[Any]) -> FloatArray:
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
