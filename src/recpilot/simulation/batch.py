"""The vectorised fast path: the offline engine against a model, many users per numpy step.

The model ranks each chunk of users once (``recommend_indices``, training items masked); each session
shows that ranking minus the items consumed in earlier sessions, page by page. Every draw comes from
:func:`~recpilot.simulation.draws.page_uniforms` with the user-session seed, the same numbers
the async path draws, so both paths give the same sessions for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.simulation.draws import mix64, page_uniforms
from recpilot.simulation.engine import session_reason
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.journal import items_frame, sessions_frame
from recpilot.simulation.offline_engine import OfflineEngine, PageBatch
from recpilot.simulation.persona import SimulatedUser
from recpilot.simulation.types import ITEM_TABLE_COLUMNS, SESSION_TABLE_COLUMNS

_ACTIONS = np.array(["skip", "view", "click"], dtype=object)


def session_seeds(run_seed: int, users: Sequence[SimulatedUser], sessions: int) -> npt.NDArray[np.uint64]:
    """``(len(users), sessions)`` seeds, each a function of the run seed, the user index and the session."""
    index = np.array([u.index for u in users], dtype=np.uint64)
    return mix64(run_seed, index[:, None], np.arange(sessions, dtype=np.uint64)[None, :]).reshape(
        len(users), sessions
    )


def simulate_chunk(
    engine: OfflineEngine,
    recommender: ModelRecommender,
    users: Sequence[SimulatedUser],
    *,
    run_seed: int,
    run_id: str,
    sessions: int,
    pages: int,
    page_size: int,
    rerank: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate every session of ``users`` and return the two result tables.

    With ``rerank`` every page is ranked afresh from each user's training history plus the clicks so
    far, minus what the session showed (one batched model call per page for all users still active).
    """
    _, data = engine._require()
    n, k = len(users), page_size
    user_idx = np.array([u.user_idx for u in users], dtype=np.int64)
    seeds = session_seeds(run_seed, users, sessions)
    # copies of one persona share their real user's rows: compute each real user once
    unique, real = np.unique(user_idx, return_inverse=True)
    like, chosen, choice = engine.user_arrays(unique)
    per_session = pages * k
    ranking = (
        np.empty((n, 0), dtype=np.int64)
        if rerank
        else recommender.rank_batch(unique, per_session + (sessions - 1) * pages)[real]
    )
    known = engine.item_index
    histories = [
        np.array([known[i] for i in u.persona.history if i in known], dtype=np.int64)
        for u in (users if rerank else ())
    ]
    activity = np.array([u.persona.activity for u in users], dtype=np.float64)
    satisfaction = np.full(n, engine.behaviour.initial_satisfaction)
    fatigue = np.zeros(n)
    consumed = np.full((n, sessions * pages), -1, dtype=np.int64)
    n_consumed = np.zeros(n, dtype=np.int64)
    item_ids = np.asarray(data.items.external_ids.astype(str), dtype=object)
    sim_ids = np.array([u.sim_id for u in users], dtype=object)
    columns: dict[str, list[Any]] = {c: [] for c in ITEM_TABLE_COLUMNS}
    session_rows: dict[str, list[Any]] = {c: [] for c in SESSION_TABLE_COLUMNS}
    favourite: dict[int, str] = {}
    for member in users:  # once per real user: copies share it
        if member.user_idx not in favourite:
            favourite[member.user_idx] = _favourite_genre(engine, member)
    taste = [favourite[member.user_idx] for member in users]

    for s in range(sessions):
        session_items = (
            np.full((n, per_session), -1, dtype=np.int64)
            if rerank
            else _without(ranking, consumed[:, : max(1, int(n_consumed.max()))], per_session)
        )
        active = np.ones(n, dtype=bool)
        exit_page = np.full(n, -1, dtype=np.int64)
        tired = np.zeros(n, dtype=bool)
        seen = np.zeros(n, dtype=np.int64)
        liked: list[list[str]] = [[] for _ in range(n)]
        disliked: list[list[str]] = [[] for _ in range(n)]
        for p in range(pages):
            rows = np.flatnonzero(active)
            if len(rows) == 0:
                break
            if rerank:
                session_items[rows, p * k : (p + 1) * k] = _reranked(
                    recommender, histories, consumed, n_consumed, session_items[:, : p * k], rows, k
                )
            items = session_items[rows, p * k : (p + 1) * k]
            safe = np.maximum(items, 0)
            valid = items >= 0
            outcome = engine.decide_arrays(
                PageBatch(
                    items=items,
                    like=np.where(valid, like[real[rows][:, None], safe], 0.0),
                    chosen=np.where(valid, chosen[real[rows][:, None], safe], 0.0),
                    consumed=np.zeros(items.shape, dtype=bool),
                    activity=activity[rows],
                    satisfaction=satisfaction[rows],
                    fatigue=fatigue[rows],
                    uniforms=page_uniforms(seeds[rows, s], p, k),
                    choice=np.where(valid, choice[real[rows][:, None], safe], 0.0),
                )
            )
            satisfaction[rows] = outcome.satisfaction
            fatigue[rows] = outcome.fatigue
            seen[rows] += valid.any(axis=1)
            clicked = np.flatnonzero(outcome.click >= 0)
            for r in clicked.tolist():
                u = rows[r]
                item = int(items[r, outcome.click[r]])
                consumed[u, n_consumed[u]] = item
                n_consumed[u] += 1
                (liked if outcome.liked[r] else disliked)[u].append(str(item_ids[item]))
            # leaving after the last page is reaching the end of the session, not an exit
            early = outcome.leave & (p < pages - 1)
            leaving = rows[early]
            exit_page[leaving] = p
            tired[leaving] = outcome.tired[early]
            active[leaving] = False
            _append_page(columns, run_id, sim_ids[rows], s, p, items, item_ids, outcome, early)
        for u in range(n):
            left = exit_page[u] >= 0
            session_rows["run_id"].append(run_id)
            session_rows["user_id"].append(users[u].sim_id)
            session_rows["persona_user_id"].append(users[u].persona.user_id)
            session_rows["session"].append(s)
            session_rows["pages_seen"].append(int(seen[u]))
            session_rows["exit_page"].append(int(exit_page[u]) if left else None)
            session_rows["stayed"].append(not left)
            session_rows["reason"].append(
                session_reason(
                    int(exit_page[u]) if left else None,
                    int(seen[u]),
                    len(liked[u]),
                    len(disliked[u]),
                    taste[u],
                    tired=bool(tired[u]),
                )
            )
            session_rows["satisfaction"].append(float(satisfaction[u]))
            session_rows["liked"].append(liked[u])
            session_rows["disliked"].append(disliked[u])
            session_rows["errors"].append([])
        satisfaction, fatigue = engine.next_session(satisfaction, fatigue)
    return items_frame({c: _flat(v) for c, v in columns.items()}), sessions_frame(session_rows)


def _reranked(
    recommender: ModelRecommender,
    histories: list[npt.NDArray[np.int64]],
    consumed: npt.NDArray[np.int64],
    n_consumed: npt.NDArray[np.int64],
    shown: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    k: int,
) -> npt.NDArray[np.int64]:
    """The next page of ``rows``: ranked from history plus clicks, minus clicks and this session's pages."""
    clicks = [consumed[u, : n_consumed[u]] for u in rows.tolist()]
    history = [np.concatenate([histories[u], c]) for u, c in zip(rows.tolist(), clicks, strict=True)]
    exclude = [
        np.concatenate([c, shown[u][shown[u] >= 0]]) for u, c in zip(rows.tolist(), clicks, strict=True)
    ]
    page = recommender.rank_histories(history, exclude, k)
    if page.shape[1] < k:
        page = np.pad(page, ((0, 0), (0, k - page.shape[1])), constant_values=-1)
    return page


def _without(
    ranking: npt.NDArray[np.int64], banned: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.int64]:
    """Each row's ranking minus its banned items (-1 entries of ``banned`` ban nothing), first ``width``."""
    drop = (ranking[:, :, None] == banned[:, None, :]).any(axis=2) | (ranking < 0)
    order = np.argsort(drop, axis=1, kind="stable")[:, :width]
    kept = np.take_along_axis(ranking, order, axis=1)
    kept[np.take_along_axis(drop, order, axis=1)] = -1
    if kept.shape[1] < width:
        kept = np.pad(kept, ((0, 0), (0, width - kept.shape[1])), constant_values=-1)
    return kept


def _append_page(
    columns: dict[str, list[Any]],
    run_id: str,
    sim_ids: npt.NDArray[Any],
    session: int,
    page: int,
    items: npt.NDArray[np.int64],
    item_ids: npt.NDArray[Any],
    outcome: Any,
    left: npt.NDArray[np.bool_],
) -> None:
    valid = items >= 0
    r, c = np.nonzero(valid)
    action = np.where(c == outcome.click[r], 2, outcome.examined[r, c].astype(np.int64))
    columns["run_id"].append(np.full(len(r), run_id, dtype=object))
    columns["user_id"].append(sim_ids[r])
    columns["session"].append(np.full(len(r), session, dtype=np.int32))
    columns["page"].append(np.full(len(r), page, dtype=np.int32))
    columns["position"].append(c.astype(np.int32))
    columns["item_id"].append(item_ids[items[r, c]])
    columns["action"].append(_ACTIONS[action])
    columns["rating"].append(np.where(action == 2, outcome.rating[r], np.nan))
    columns["satisfaction"].append(outcome.satisfaction[r])
    columns["fatigue"].append(outcome.fatigue[r])
    columns["left"].append(left[r])


def _flat(parts: list[Any]) -> Any:
    return np.concatenate(parts) if parts else np.array([])


def _favourite_genre(engine: OfflineEngine, user: SimulatedUser) -> str:
    counts: dict[str, int] = {}
    for item in user.persona.history:
        for genre in engine.genres_of(item):
            counts[genre] = counts.get(genre, 0) + 1
    return max(counts, key=lambda g: counts[g]) if counts else ""
