"""Evidence the explanations name: the user's well-rated recent items, and for each recommended item
the one of them the collaborative model finds closest (one batched model call for a whole list)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender

Positions = npt.NDArray[np.int64]
#: History items an explanation compares a recommendation with (the most recent, well-rated ones).
ANCHORS = 200
NO_POSITIONS: Positions = np.empty(0, dtype=np.int64)


def well_rated_recent(dataset: Dataset, user: object) -> Positions:
    """Catalog positions of the user's last :data:`ANCHORS` items rated at least at their own median."""
    row = dataset.users.index_of(user)
    sequence = dataset.user_sequence(row)[-ANCHORS:]
    ratings = dataset.matrix("rating")[row]
    if not ratings.nnz:
        return NO_POSITIONS
    liked = ratings.indices[ratings.data >= np.median(ratings.data)]
    return np.asarray(sequence[np.isin(sequence, liked)], dtype=np.int64)


def closest_history_items(
    model: Recommender[Any], ids: npt.NDArray[Any], positions: Positions, history: Positions
) -> list[int | None]:
    """For each item (catalog ``positions``), the ``history`` position the model finds most similar;
    None where no history item has a positive similarity.

    Args:
        model: The model whose item-to-item scores measure similarity.
        ids: The catalog's external ids in catalog order.
        positions: The items to explain.
        history: The candidates to name, in order of preference on ties.
    """
    found: list[int | None] = [None] * len(positions)
    if not len(positions) or not len(history):
        return found
    items = model.item_map
    rows = items.to_internal(ids[positions].tolist(), strict=False)
    columns = items.to_internal(ids[history].tolist(), strict=False)
    usable = columns >= 0
    history, columns = history[usable], columns[usable]
    scored = np.flatnonzero(rows >= 0)
    if not len(columns) or not len(scored):
        return found
    # One batched call for all items: each item is a one-item history.
    one_item = Histories.from_lists([np.array([rows[i]]) for i in scored], model.n_items)
    similarity = np.asarray(model._score_histories(one_item), dtype=np.float64)[:, columns]
    similarity[rows[scored][:, None] == columns[None, :]] = -np.inf
    best = similarity.argmax(axis=1)
    top = similarity[np.arange(len(scored)), best]
    for i, b, t in zip(scored.tolist(), best.tolist(), top.tolist(), strict=True):
        if np.isfinite(t) and t > 0:
            found[i] = int(history[b])
    return found


def unique_positions(positions: Positions) -> Positions:
    """The positions in first-seen order, duplicates removed."""
    if not len(positions):
        return NO_POSITIONS
    _, first = np.unique(positions, return_index=True)
    return np.asarray(positions[np.sort(first)], dtype=np.int64)
