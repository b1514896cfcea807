"""Batch top-k for many users or histories at once: the fast paths of evaluation and simulation.

Scores are computed block by block, at most :data:`SCORE_BUDGET` floats at a time, so ranking every
user of a large catalog never holds the whole ``(users, items)`` matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recpilot.errors import ConfigError
from recpilot.models.histories import Histories, mask_csr
from recpilot.models.ranking import top_k

if TYPE_CHECKING:
    from recpilot.models.base import Recommender

SCORE_BUDGET = 2**25  # floats per dense score block (128 MiB)

Ranked = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]


def recommend_users(
    model: Recommender[Any],
    users: npt.ArrayLike,
    k: int,
    *,
    filter_seen: bool,
    candidates: npt.NDArray[np.int64] | None,
) -> Ranked:
    """:meth:`Recommender.recommend_indices <recpilot.models.base.Recommender.recommend_indices>`."""
    user_idx = np.asarray(users, dtype=np.int64)

    def block_scores(start: int, stop: int) -> npt.NDArray[np.float32]:
        block = user_idx[start:stop]
        scores = model._scores_for_users(block)
        if filter_seen:
            mask_csr(scores, model._require_seen()[block])
        if candidates is None:
            return scores
        allowed = np.full(scores.shape, -np.inf, dtype=np.float32)
        rows = np.arange(len(block))[:, None]
        cand = candidates[start:stop]
        allowed[rows, cand] = scores[rows, cand]
        return allowed

    return _top_k_in_blocks(len(user_idx), model.n_items, k, block_scores)


def recommend_histories(
    model: Recommender[Any],
    histories: Histories,
    k: int,
    *,
    exclude: Histories | None,
    filter_seen: bool,
) -> Ranked:
    """:meth:`Recommender.recommend_histories <recpilot.models.base.Recommender.recommend_histories>`."""
    n_items = model.n_items
    if histories.n_items != n_items or (exclude is not None and len(exclude) != len(histories)):
        raise ConfigError(
            f"histories must index this model's {n_items} items and exclusions must have one row "
            f"per history (got {histories.n_items} items, {len(histories)} rows)"
        )

    def block_scores(start: int, stop: int) -> npt.NDArray[np.float32]:
        rows = range(start, stop)
        block = Histories.from_lists([histories.sequence(r) for r in rows], n_items)
        scores = model._cold_scores(len(block))
        filled = np.flatnonzero(block.lengths > 0)
        if len(filled):
            subset = Histories.from_lists([block.sequence(int(r)) for r in filled], n_items)
            scores[filled] = model._score_histories(subset)
        if filter_seen:
            mask_csr(scores, block.csr)
        if exclude is not None:
            mask_csr(scores, Histories.from_lists([exclude.sequence(r) for r in rows], n_items).csr)
        return scores

    return _top_k_in_blocks(len(histories), n_items, k, block_scores)


def _top_k_in_blocks(
    n_rows: int, n_items: int, k: int, block_scores: Callable[[int, int], npt.NDArray[np.float32]]
) -> Ranked:
    """Top-``k`` of ``n_rows`` score rows, ``block_scores(start, stop)`` giving rows ``start:stop``;
    padded with -1 / -inf."""
    chunk = max(1, SCORE_BUDGET // max(1, n_items))
    out_items = np.full((n_rows, min(k, n_items)), -1, dtype=np.int64)
    out_scores = np.full(out_items.shape, -np.inf, dtype=np.float32)
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        idx, vals = top_k(block_scores(start, stop), k)
        out_items[start:stop, : idx.shape[1]] = idx
        out_scores[start:stop, : vals.shape[1]] = vals
    return out_items, out_scores
