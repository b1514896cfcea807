"""Top-k selection over score matrices (batch-first, no Python loop over users) and of one row."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from recpilot.data.idmap import IdMap
from recpilot.types import ItemList

# Columns per group in the prefilter for wide score matrices (see _candidate_columns).
_GROUP = 64


def top_k(scores: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The best ``k`` columns of each row, best first.

    Entries equal to ``-inf`` are never returned: rows with fewer than ``k`` finite scores are padded
    with index ``-1`` and score ``-inf``. Within the selected ``k``, ties are ordered by column index;
    which of several items tied at the ``k``-th score is kept is up to ``argpartition`` (deterministic
    for the same input).

    Args:
        scores: ``(n_rows, n_columns)`` scores; ``-inf`` marks excluded columns.
        k: How many to keep per row.

    Returns:
        ``(indices, values)``, both ``(n_rows, min(k, n_columns))``.
    """
    if scores.ndim != 2:
        raise ValueError(f"top_k expects a 2-D score matrix, got shape {scores.shape}")
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0 or n_rows == 0:
        return np.empty((n_rows, 0), dtype=np.int64), np.empty((n_rows, 0), dtype=np.float32)
    if k * _GROUP * 4 <= n_cols:
        part, part_scores = _wide_top_k(scores, k)
    else:
        if k < n_cols:
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
        part_scores = np.take_along_axis(scores, part, axis=1)
    # Sort by score descending, then by column ascending for stable, reproducible ties.
    order = np.lexsort((part, -part_scores), axis=1)
    indices = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    excluded = ~np.isfinite(values)
    indices[excluded] = -1
    values[excluded] = -np.inf
    return indices, values


def rank_row(
    scores: npt.NDArray[np.float32],
    items: IdMap,
    k: int,
    *,
    seen: npt.NDArray[np.int64] | None,
    exclude: Iterable[object],
    candidates: Iterable[object] | None,
    model: str,
) -> ItemList:
    """The top ``k`` of one row of scores over ``items`` as an :class:`~recpilot.types.ItemList`.

    Args:
        scores: ``(n_items,)`` scores, changed in place (dropped items set to ``-inf``).
        items: The model's external <-> internal item ids.
        k: List length (fewer when fewer items are eligible).
        seen: Internal indices to drop (the user's history), or None.
        exclude: External ids to drop; unknown ones are ignored.
        candidates: External ids to rank instead of the whole catalog; unknown ones raise.
        model: The model name the list carries.
    """
    if seen is not None and len(seen):
        scores[seen] = -np.inf
    excluded = items.to_internal(list(exclude), strict=False)
    scores[excluded[excluded >= 0]] = -np.inf
    if candidates is not None:
        allowed = items.to_internal(list(candidates), hint="candidates must come from the catalog")
        restricted = np.full_like(scores, -np.inf)
        restricted[allowed] = scores[allowed]
        scores = restricted
    idx, vals = top_k(scores[None, :], k)
    keep = idx[0] >= 0
    return ItemList(items.to_external(idx[0][keep]), vals[0][keep], model=model)


def _wide_top_k(
    scores: npt.NDArray[np.floating], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating]]:
    """Unordered best ``k`` columns per row and their scores, for rows much wider than ``k``.

    ``argpartition`` over a full 10k-column row costs several times more than one pass of group
    maxima, so the search first narrows to the ``k`` groups of ``_GROUP`` columns with the largest
    maxima: every top-``k`` entry lies in one of them (otherwise ``k`` other groups would each hold a
    larger entry). Candidate columns past the last column get ``-inf`` and are never returned.
    """
    n_rows, n_cols = scores.shape
    # fmax ignores NaN, so a NaN never hides the finite entries of its group.
    group_max = np.fmax.reduceat(scores, np.arange(0, n_cols, _GROUP), axis=1)
    groups = np.argpartition(-group_max, k - 1, axis=1)[:, :k]
    columns = (groups[:, :, None] * _GROUP + np.arange(_GROUP)).reshape(n_rows, k * _GROUP)
    outside = columns >= n_cols
    candidate_scores = np.take_along_axis(scores, np.where(outside, 0, columns), axis=1)
    candidate_scores[outside] = -np.inf
    best = np.argpartition(-candidate_scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(columns, best, axis=1), np.take_along_axis(candidate_scores, best, axis=1)
