"""The vectorised fast path: the offline engine against a model, many users per numpy step.

The model ranks each chunk of users once (``recommend_indices``, training items masked); each session
shows that ranking minus the items consumed in earlier sessions, page by page. Every draw comes from
:func:`~recpilot.simulation.draws.page_uniforms` with the user-session seed, the same numbers
the async path draws, so both paths give the same sessions for the same seed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.simulation.draws import mix64, page_uniforms
from recpilot.simulation.engine import session_reason
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.journal import items_frame, sessions_frame, string_column
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


def ranked_width(sessions: int, pages: int, page_size: int) -> int:
    """Items ranked per user: a session's pages, plus one item per page each later session may have
    consumed before (a click per page at most)."""
    return pages * page_size + (sessions - 1) * pages


class UserRows:
    """Per-real-user inputs of the fast path, computed once per real user for a whole run.

    Copies of a persona share their real user's ranking, the engine's values of the ranked items and
    the favourite genre, and a run's chunks reuse what earlier chunks computed. Users are kept up to
    ``max_bytes`` of rows, so memory stays bounded on a large user base (the rest are recomputed in
    each chunk, with the same result: every value depends on its user alone).

    Args:
        engine: The fitted offline engine.
        recommender: The model under test (its stored rows).
        width: Ranked items kept per user.
        max_bytes: Memory the kept rows may take.
    """

    def __init__(
        self, engine: OfflineEngine, recommender: ModelRecommender, width: int, *, max_bytes: int = 64 * 2**20
    ) -> None:
        self.engine, self.recommender, self.width = engine, recommender, width
        self.max_users = max(1, max_bytes // (32 * max(width, 1)))  # four 8-byte values per ranked item
        self._rows: dict[int, tuple[npt.NDArray[Any], ...]] = {}
        self._taste: dict[int, str] = {}

    def rankings(self, users: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], ...]:
        """For distinct internal ``users``: the top ``width`` items (training items masked, -1 padded)
        and the engine's like, chosen-like and choice values of them, each ``(len(users), width)``."""
        missing = np.array([u for u in users.tolist() if u not in self._rows], dtype=np.int64)
        found: dict[int, tuple[npt.NDArray[Any], ...]] = {}
        if len(missing):
            top = np.full((len(missing), self.width), -1, dtype=np.int64)
            ranked = self.recommender.rank_batch(missing, self.width)[:, : self.width]
            top[:, : ranked.shape[1]] = ranked
            arrays = (top, *self.engine.pair_arrays(missing, top))
            found = {u: tuple(a[r] for a in arrays) for r, u in enumerate(missing.tolist())}
            for user, row in found.items():
                if len(self._rows) < self.max_users:
                    self._rows[user] = row
        parts = [self._rows[u] if u in self._rows else found[u] for u in users.tolist()]
        return tuple(np.stack([p[a] for p in parts]) for a in range(4))

    def tastes(self, users: Sequence[SimulatedUser]) -> list[str]:
        """Each simulated user's favourite genre (the most frequent in the persona's history)."""
        out = []
        for member in users:
            taste = self._taste.get(member.user_idx)
            if taste is None:
                taste = _favourite_genre(self.engine, member)
                if len(self._taste) < self.max_users:
                    self._taste[member.user_idx] = taste
            out.append(taste)
        return out


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
    rows: UserRows | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate every session of ``users`` and return the two result tables.

    With ``rerank`` every page is ranked afresh from each user's training history plus the clicks so
    far, minus what the session showed (one batched model call per page for all users still active).
    ``rows`` carries per-real-user inputs across the chunks of one run (see :class:`UserRows`).
    """
    _, data = engine._require()
    n, k = len(users), page_size
    per_session = pages * k
    width = ranked_width(sessions, pages, k)
    if rows is None or rows.width != width or rows.recommender is not recommender:
        rows = UserRows(engine, recommender, width)
    user_idx = np.array([u.user_idx for u in users], dtype=np.int64)
    seeds = session_seeds(run_seed, users, sessions)
    # copies of one persona share their real user's rows: compute each real user once
    unique, real = np.unique(user_idx, return_inverse=True)
    if rerank:
        ranking = np.empty((n, 0), dtype=np.int64)
        like = chosen = choice = np.empty((n, 0))
        known = engine.item_index
        histories = [
            np.array([known[i] for i in u.persona.history if i in known], dtype=np.int64) for u in users
        ]
    else:
        ranking, like, chosen, choice = (a[real] for a in rows.rankings(unique))
        histories = []
    activity = np.array([u.persona.activity for u in users], dtype=np.float64)
    satisfaction = np.full(n, engine.behaviour.initial_satisfaction)
    fatigue = np.zeros(n)
    consumed = np.full((n, sessions * pages), -1, dtype=np.int64)
    n_consumed = np.zeros(n, dtype=np.int64)
    item_ids = np.asarray(data.items.external_ids.astype(str), dtype=object)
    sim_ids = np.array([u.sim_id for u in users], dtype=object)
    columns: dict[str, list[Any]] = {c: [] for c in ITEM_TABLE_COLUMNS}
    session_parts: list[dict[str, Any]] = []
    taste = rows.tastes(users)
    reason = functools.cache(session_reason)

    for s in range(sessions):
        # positions into each user's ranking (fixed ranking) or the pages ranked so far (rerank)
        place = (
            np.full((n, per_session), -1, dtype=np.int64)
            if rerank
            else _without(ranking, consumed[:, : max(1, int(n_consumed.max()))], per_session)
        )
        session_items = np.full((n, per_session), -1, dtype=np.int64)
        active = np.ones(n, dtype=bool)
        exit_page = np.full(n, -1, dtype=np.int64)
        tired = np.zeros(n, dtype=bool)
        seen = np.zeros(n, dtype=np.int64)
        clicks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = []
        for p in range(pages):
            live = np.flatnonzero(active)
            if len(live) == 0:
                break
            if rerank:
                shown = session_items[:, : p * k]
                items = _reranked(recommender, histories, consumed, n_consumed, shown, live, k)
                values = engine.pair_arrays(user_idx[live], items)
            else:
                at = place[live, p * k : (p + 1) * k]
                items = np.where(at >= 0, np.take_along_axis(ranking[live], np.maximum(at, 0), axis=1), -1)
                like_at, chosen_at, choice_at = (
                    np.where(at >= 0, np.take_along_axis(a[live], np.maximum(at, 0), axis=1), 0.0)
                    for a in (like, chosen, choice)
                )
                values = like_at, chosen_at, choice_at
            session_items[live, p * k : (p + 1) * k] = items
            valid = items >= 0
            outcome = engine.decide_arrays(
                PageBatch(
                    items=items,
                    like=values[0],
                    chosen=values[1],
                    consumed=np.zeros(items.shape, dtype=bool),
                    activity=activity[live],
                    satisfaction=satisfaction[live],
                    fatigue=fatigue[live],
                    uniforms=page_uniforms(seeds[live, s], p, k),
                    choice=values[2],
                )
            )
            satisfaction[live] = outcome.satisfaction
            fatigue[live] = outcome.fatigue
            seen[live] += valid.any(axis=1)
            hit = np.flatnonzero(outcome.click >= 0)
            who, what = live[hit], items[hit, outcome.click[hit]]
            consumed[who, n_consumed[who]] = what  # one click per user and page
            n_consumed[who] += 1
            clicks.append((who, what, outcome.liked[hit]))
            # leaving after the last page is reaching the end of the session, not an exit
            early = outcome.leave & (p < pages - 1)
            leaving = live[early]
            exit_page[leaving] = p
            tired[leaving] = outcome.tired[early]
            active[leaving] = False
            _append_page(columns, live, s, p, items, outcome, early)
        who = np.concatenate([c[0] for c in clicks]) if clicks else np.zeros(0, dtype=np.int64)
        what = np.concatenate([c[1] for c in clicks]) if clicks else np.zeros(0, dtype=np.int64)
        good = np.concatenate([c[2] for c in clicks]) if clicks else np.zeros(0, dtype=bool)
        liked = _per_user(who[good], item_ids[what[good]], n)
        disliked = _per_user(who[~good], item_ids[what[~good]], n)
        exits: list[int | None] = [None if e < 0 else e for e in exit_page.tolist()]
        session_parts.append(
            {
                "run_id": [run_id] * n,
                "user_id": sim_ids.tolist(),
                "persona_user_id": [u.persona.user_id for u in users],
                "session": [s] * n,
                "pages_seen": seen.tolist(),
                "exit_page": exits,
                "stayed": (exit_page < 0).tolist(),
                "reason": [
                    reason(e, pages_seen, len(yes), len(no), t, tired=bool(worn))
                    for e, pages_seen, yes, no, t, worn in zip(
                        exits, seen.tolist(), liked, disliked, taste, tired.tolist(), strict=True
                    )
                ],
                "satisfaction": satisfaction.tolist(),
                "liked": liked,
                "disliked": disliked,
                "errors": [[] for _ in range(n)],
                "instruction": [""] * n,
                "instruction_page": [None] * n,
                "instruction_acted": [False] * n,
            }
        )
        satisfaction, fatigue = engine.next_session(satisfaction, fatigue)
    session_rows = {c: [v for part in session_parts for v in part[c]] for c in SESSION_TABLE_COLUMNS}
    return _items_table(columns, run_id, sim_ids, item_ids), sessions_frame(session_rows)


def _per_user(users: npt.NDArray[np.int64], values: npt.NDArray[Any], n: int) -> list[list[str]]:
    """``values`` grouped into one list per user ``0..n-1``, in their original order."""
    order = np.argsort(users, kind="stable")
    flat = values[order].tolist()
    ends = np.cumsum(np.bincount(users, minlength=n)).tolist()
    starts = [0, *ends[:-1]]
    return [flat[a:b] for a, b in zip(starts, ends, strict=True)]


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
    """Positions of each row's first ``width`` ranked items not banned (-1 entries of ``banned`` ban
    nothing), -1 where the ranking runs out."""
    drop = (ranking[:, :, None] == banned[:, None, :]).any(axis=2) | (ranking < 0)
    order = np.argsort(drop, axis=1, kind="stable")[:, :width]
    order[np.take_along_axis(drop, order, axis=1)] = -1
    if order.shape[1] < width:
        order = np.pad(order, ((0, 0), (0, width - order.shape[1])), constant_values=-1)
    return order


def _append_page(
    columns: dict[str, list[Any]],
    users: npt.NDArray[np.int64],
    session: int,
    page: int,
    items: npt.NDArray[np.int64],
    outcome: Any,
    left: npt.NDArray[np.bool_],
) -> None:
    """Add one page's rows; string columns hold codes (chunk row, item index, action) until the end."""
    valid = items >= 0
    r, c = np.nonzero(valid)
    action = np.where(c == outcome.click[r], 2, outcome.examined[r, c].astype(np.int64))
    columns["user_id"].append(users[r])
    columns["session"].append(np.full(len(r), session, dtype=np.int32))
    columns["page"].append(np.full(len(r), page, dtype=np.int32))
    columns["position"].append(c.astype(np.int32))
    columns["item_id"].append(items[r, c])
    columns["action"].append(action)
    columns["rating"].append(np.where(action == 2, outcome.rating[r], np.nan))
    columns["satisfaction"].append(outcome.satisfaction[r])
    columns["fatigue"].append(outcome.fatigue[r])
    columns["left"].append(left[r])


def _items_table(
    columns: dict[str, list[Any]], run_id: str, sim_ids: npt.NDArray[Any], item_ids: npt.NDArray[Any]
) -> pd.DataFrame:
    """The items table from the pages' columns, decoding the string columns in one step each."""
    flat = {c: _flat(v) for c, v in columns.items() if c != "run_id"}
    rows = len(flat["session"])
    flat["run_id"] = string_column([run_id], np.zeros(rows, dtype=np.int64))
    for column, values in (("user_id", sim_ids), ("item_id", item_ids), ("action", _ACTIONS)):
        flat[column] = string_column(values, flat[column].astype(np.int64))
    return items_frame(flat)


def _flat(parts: list[Any]) -> Any:
    return np.concatenate(parts) if parts else np.array([])


def _favourite_genre(engine: OfflineEngine, user: SimulatedUser) -> str:
    counts: dict[str, int] = {}
    for item in user.persona.history:
        for genre in engine.genres_of(item):
            counts[genre] = counts.get(genre, 0) + 1
    return max(counts, key=lambda g: counts[g]) if counts else ""
