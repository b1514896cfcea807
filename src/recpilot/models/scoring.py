"""How a fitted model's scores are made for one request: known users (kept rows of heavy users,
popularity for users without training history), ad-hoc histories, and candidate pools.

The model's hooks (:meth:`~recpilot.models.base.Recommender._score_users`, ``_score_histories`` and
their ``_at`` variants) compute; these functions choose which hook answers and keep the cold-start
and kept-row rules in one place, so every path gives the same values for the same user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recpilot.errors import ConfigError
from recpilot.models.histories import Histories

if TYPE_CHECKING:
    from recpilot.models.base import Recommender


def users_scores(model: Recommender[Any], users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Scores ``(len(users), n_items)`` for known users; users with no training history get the
    cold-start (popularity) scores, a kept heavy user its kept row."""
    if len(users) == 1 and int(users[0]) in model._kept:
        return model._kept[int(users[0])][None, :].copy()
    seen = model._require_seen()
    empty = np.diff(seen.indptr)[users] == 0
    if not empty.any():
        return np.asarray(model._score_users(users), dtype=np.float32)
    scores = model._cold_scores(len(users))
    if (~empty).any():
        scores[~empty] = model._score_users(users[~empty])
    return scores


def request_scores(
    model: Recommender[Any], user: object | None, history: Sequence[object] | None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Scores ``(n_items,)`` for a known user or an ad-hoc history, and the internal items seen."""
    if (user is None) == (history is None):
        raise ConfigError("pass exactly one of `user` (a known user id) or `history` (item ids)")
    if user is not None:
        index = model.user_map.index_of(
            user, hint="pass history=[item ids] to recommend for a new user (cold-start path)"
        )
        users = np.array([index], dtype=np.int64)
        seen = model._require_seen()[index].indices.astype(np.int64)
        return users_scores(model, users)[0].copy(), seen
    assert history is not None
    items = model.item_map.to_internal(list(history), hint="history items must come from the catalog")
    if len(items) == 0:
        return model._cold_scores(1)[0].copy(), items
    scores = model._score_histories(Histories.from_lists([items], model.n_items))
    return np.asarray(scores[0], dtype=np.float32).copy(), items


def pool_scores(
    model: Recommender[Any], items: npt.ArrayLike, user: object | None, history: Sequence[object] | None
) -> npt.NDArray[np.float32]:
    """:meth:`Recommender.score_at <recpilot.models.base.Recommender.score_at>`."""
    index = np.asarray(items, dtype=np.int64).reshape(-1)
    n_items = model.n_items
    if index.size and (int(index.min()) < 0 or int(index.max()) >= n_items):
        raise ConfigError(f"score_at() takes internal item indices in [0, {n_items}); got one outside")
    if (user is None) == (history is None):
        raise ConfigError("pass exactly one of `user` (a known user id) or `history` (item ids)")
    popularity = model._require_popularity()
    if user is not None:
        row = model.user_map.index_of(
            user, hint="pass history=[item ids] to score for a new user (cold-start path)"
        )
        seen = model._require_seen()
        if seen.indptr[row + 1] == seen.indptr[row]:
            return popularity[index].astype(np.float32)
        if row in model._kept:
            return model._kept[row][index]
        return np.asarray(model._score_users_at(np.array([row], dtype=np.int64), index)[0], dtype=np.float32)
    own = model.item_map.to_internal(list(history or ()), hint="history items must come from the catalog")
    if len(own) == 0:
        return popularity[index].astype(np.float32)
    scores = model._score_histories_at(Histories.from_lists([own], n_items), index)
    return np.asarray(scores[0], dtype=np.float32)


def keep_heavy_users(model: Recommender[Any], min_history: int, budget_bytes: int) -> int:
    """:meth:`Recommender.keep_heavy_users <recpilot.models.base.Recommender.keep_heavy_users>`."""
    seen = model._require_seen()
    lengths = np.diff(seen.indptr)
    heavy = np.flatnonzero(lengths >= min_history)
    heavy = heavy[np.argsort(-lengths[heavy], kind="stable")][: budget_bytes // (4 * model.n_items)]
    model._kept = {}
    # One user at a time: the very call a request makes, so the kept values are the same bits.
    kept = {int(u): users_scores(model, np.array([u], dtype=np.int64))[0] for u in heavy}
    model._kept = kept
    return len(kept)
