"""Beyond-accuracy metrics: coverage, novelty, diversity and popularity bias.

Like the ranking metrics these are pure functions of ranked lists (``(n_users, L)`` internal item
indices, best first, padded with ``-1``) and of item statistics from the *training* data; they never
take a model. Per-user metrics return ``NaN`` for users whose list is too short for the metric to be
defined (empty, or a single item for diversity); aggregate them with :func:`numpy.nanmean`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpilot.errors import ConfigError
from recpilot.evaluation.metrics import check_ranked, first_occurrences

FloatArray = npt.NDArray[np.float64]

_FEATURE_BUDGET = 2**24  # floats per gathered feature block in intra_list_diversity (128 MiB)


def item_exposure(ranked: npt.ArrayLike, n_items: int) -> npt.NDArray[np.int64]:
    """How many lists each item appears in (repeats within a list count once).

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        n_items: Size of the catalog.

    Returns:
        ``(n_items,)`` exposure counts.
    """
    lists = _lists_within(ranked, n_items)
    listed = lists[first_occurrences(lists)]
    return np.bincount(listed, minlength=n_items).astype(np.int64)


def coverage(ranked: npt.ArrayLike, n_items: int) -> float:
    """Catalog coverage: the fraction of the ``n_items`` catalog items that appear in any list."""
    return float(np.count_nonzero(item_exposure(ranked, n_items)) / n_items)


def gini_index(ranked: npt.ArrayLike, n_items: int) -> float:
    """Gini index of item exposure over the whole catalog (items never recommended count as zero).

    0 means every catalog item is recommended equally often; ``(n_items - 1) / n_items`` (close to 1)
    means every recommendation goes to one item. ``NaN`` when no list holds any item.
    """
    exposure = np.sort(item_exposure(ranked, n_items)).astype(np.float64)
    total = exposure.sum()
    if total == 0:
        return float("nan")
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    return float(2.0 * (ranks @ exposure) / (n_items * total) - (n_items + 1.0) / n_items)


def novelty(ranked: npt.ArrayLike, popularity: npt.ArrayLike, n_users: int) -> FloatArray:
    """Per-user mean self-information of the recommended items (Zhou et al., 2010).

    An item's self-information is ``-log2(popularity / n_users)``: ``log2(n_users)`` bits for an item
    one training user knows, 0 bits for an item everyone knows. Items with no training interaction
    are counted as known by one user, so their novelty is the (finite) maximum.

    Args:
        ranked: ``(n_users_evaluated, L)`` internal item indices, padded with ``-1``.
        popularity: ``(n_items,)`` number of training users per item.
        n_users: Number of training users (the denominator of the popularity share).

    Returns:
        Per-user novelty in bits; ``NaN`` for empty lists.
    """
    if n_users < 1:
        raise ConfigError(f"novelty needs the number of training users (>= 1), got {n_users}")
    counts = _popularity_vector(popularity)
    information = -np.log2(np.clip(counts, 1.0, None) / n_users)
    return _mean_over_list(ranked, information)


def average_recommendation_popularity(ranked: npt.ArrayLike, popularity: npt.ArrayLike) -> FloatArray:
    """Per-user ARP: the mean training popularity of the recommended items (Abdollahpouri et al., 2019).

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        popularity: ``(n_items,)`` number of training users per item.

    Returns:
        Per-user mean popularity (in training users); ``NaN`` for empty lists.
    """
    return _mean_over_list(ranked, _popularity_vector(popularity))


def intra_list_diversity(
    ranked: npt.ArrayLike, item_features: npt.ArrayLike | sp.spmatrix | sp.sparray
) -> FloatArray:
    """Per-user mean pairwise cosine distance between the items of each list.

    Args:
        ranked: ``(n_users, L)`` internal item indices, padded with ``-1``.
        item_features: ``(n_items, d)`` dense or sparse item vectors, e.g. binary genre indicators
            (see :func:`multi_hot`) or embeddings. An item with an all-zero vector is at distance 1
            from every other item.

    Returns:
        Per-user diversity: in ``[0, 1]`` for non-negative features, ``[0, 2]`` in general; ``NaN``
        for lists with fewer than two items. A repeated item is at distance 0 from itself.
    """
    unit = _unit_rows(item_features)
    n_items, dim = unit.shape
    lists = _lists_within(ranked, n_items)
    valid = lists >= 0
    n_listed = valid.sum(axis=1)
    n_pairs = n_listed * (n_listed - 1.0)
    similarity_sum = np.zeros(len(lists), dtype=np.float64)
    length = max(1, lists.shape[1])
    chunk = max(1, _FEATURE_BUDGET // (length * max(1, dim)))
    for start in range(0, len(lists), chunk):
        block = lists[start : start + chunk]
        rows = np.where(block >= 0, block, 0).ravel()
        dense = unit[rows].toarray() if isinstance(unit, sp.csr_matrix) else unit[rows]
        vectors = dense.reshape(block.shape[0], block.shape[1], dim)
        vectors[block < 0] = 0.0
        gram = vectors @ vectors.transpose(0, 2, 1)
        # Off-diagonal sum: all pairs minus each item's similarity with itself.
        similarity_sum[start : start + chunk] = gram.sum(axis=(1, 2)) - np.einsum("bii->b", gram)
    out = np.full(len(lists), np.nan)
    defined = n_listed >= 2
    out[defined] = 1.0 - similarity_sum[defined] / n_pairs[defined]
    return out


def multi_hot(values: Sequence[Iterable[Hashable] | Hashable | None]) -> sp.csr_matrix:
    """A binary item x attribute matrix from one attribute value or list of values per item.

    Useful for :func:`intra_list_diversity` with a catalog column such as ``genres``:
    ``multi_hot(dataset.catalog["genres"])``. Strings count as single values, ``None`` as none.

    Args:
        values: Per item (in internal index order), an attribute value or an iterable of values.

    Returns:
        ``(n_items, n_distinct_values)`` float64 CSR with 1.0 where the item has the value.
    """
    vocabulary: dict[Hashable, int] = {}
    indptr = [0]
    indices: list[int] = []
    for entry in values:
        if entry is None or (isinstance(entry, float) and np.isnan(entry)):
            members: Iterable[Hashable] = ()
        elif isinstance(entry, str | bytes) or not isinstance(entry, Iterable):
            members = (entry,)
        else:
            members = entry
        columns = {vocabulary.setdefault(member, len(vocabulary)) for member in members}
        indices.extend(sorted(columns))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(vocabulary)))


def _lists_within(ranked: npt.ArrayLike, n_items: int) -> npt.NDArray[np.int64]:
    lists = check_ranked(ranked)
    if n_items < 1:
        raise ConfigError(f"the catalog must hold at least one item, got n_items={n_items}")
    if lists.size and lists.max() >= n_items:
        raise ConfigError(
            f"ranked lists hold item index {int(lists.max())}, but the catalog has {n_items} items"
        )
    return lists


def _popularity_vector(popularity: npt.ArrayLike) -> FloatArray:
    counts = np.asarray(popularity, dtype=np.float64)
    if counts.ndim != 1:
        raise ConfigError(f"popularity must be a 1-D (n_items,) array, got shape {counts.shape}")
    if (counts < 0).any():
        raise ConfigError("popularity counts must be non-negative")
    return counts


def _mean_over_list(ranked: npt.ArrayLike, per_item: FloatArray) -> FloatArray:
    lists = _lists_within(ranked, len(per_item))
    valid = lists >= 0
    values = np.where(valid, per_item[np.where(valid, lists, 0)], 0.0)
    n_listed = valid.sum(axis=1)
    out = np.full(len(lists), np.nan)
    np.divide(values.sum(axis=1), n_listed, out=out, where=n_listed > 0)
    return out


def _unit_rows(
    item_features: npt.ArrayLike | sp.spmatrix | sp.sparray,
) -> npt.NDArray[np.float64] | sp.csr_matrix:
    """Item vectors scaled to unit length (all-zero rows stay zero), as dense float64 or CSR."""
    matrix: npt.NDArray[np.float64] | sp.csr_matrix
    if isinstance(item_features, sp.spmatrix | sp.sparray):
        matrix = sp.csr_matrix(item_features, dtype=np.float64)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())
    else:
        matrix = np.asarray(item_features, dtype=np.float64)
        if matrix.ndim != 2:
            raise ConfigError(f"item features must be a 2-D (n_items, d) matrix, got shape {matrix.shape}")
        norms = np.linalg.norm(matrix, axis=1)
    inverse = np.zeros_like(norms)
    np.divide(1.0, norms, out=inverse, where=norms > 0)
    if isinstance(matrix, sp.csr_matrix):
        return sp.csr_matrix(sp.diags(inverse) @ matrix)
    return matrix * inverse[:, None]
