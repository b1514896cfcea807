"""The start-up step (:func:`recpilot.agent.runtime.settle`, :meth:`Catalog.prepare`,
:meth:`Recommender.keep_heavy_users`): what it builds and keeps must be exactly what a request would
compute, dropped on a refit, bounded by its memory cap, and the start-up objects end up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recpilot.agent.runtime import AgentRuntime, settle
from recpilot.data.dataset import Dataset
from recpilot.models.base import Recommender
from recpilot.models.registry import build_model
from recpilot.ranking import Ranking
from recpilot.testing.datasets import known_answer_dataset
from recpilot.tools.context import Catalog

HEAVY = 1000  # the training history from which settle keeps a user's scores


@pytest.fixture
def unfreeze() -> Iterator[None]:
    """Undo ``gc.freeze`` after a test that settles, so later tests see the collector as usual."""
    yield
    gc.unfreeze()


def _fresh(model: Recommender[Any], row: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A user's scores computed now, bypassing any kept row."""
    return np.asarray(model._score_users(np.array([row], dtype=np.int64))[0], dtype=np.float32)


def _lengths(model: Recommender[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    seen = model._require_seen()
    return np.asarray(np.diff(seen.indptr), dtype=np.int64)


def _ladder(n_users: int = 8, shift: int = 0) -> Dataset:
    """User ``u{k}`` has rated ``k + 1`` of 12 items (from item ``shift`` on): histories of every length
    1..n_users."""
    rows = [(f"u{k}", 100 + (i + shift) % 12, 4.0, 1_000 + i) for k in range(n_users) for i in range(k + 1)]
    # Every item is seen by someone so the catalog and the model share the item space.
    rows += [("filler", 100 + i, 3.0, 1_000 + i) for i in range(12)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame({"item_id": [100 + i for i in range(12)], "title": [f"Item {i}" for i in range(12)]})
    return Dataset.from_frames(interactions, items, name="ladder")


def test_settle_keeps_every_heavy_user_with_the_exact_scores_a_request_computes(
    runtime: AgentRuntime, unfreeze: None
) -> None:
    settle(runtime)
    model = runtime.models["collaborative"]
    lengths = _lengths(model)
    heavy = {int(u) for u in np.flatnonzero(lengths >= HEAVY)}
    assert heavy, "ml-latest-small has users with 1,000+ ratings"
    assert set(model._kept) == heavy
    ids = model.item_map.external_ids.tolist()
    for row in heavy:
        fresh = _fresh(model, row)
        assert np.array_equal(model._kept[row], fresh)
        # The public paths serve the kept row, bit for bit.
        user = model.user_map.external_ids[row]
        assert np.array_equal(model.score(ids, user=user), fresh)
        assert np.array_equal(model.score_at(np.arange(len(ids)), user=user), fresh)


def test_settle_serves_heavy_users_without_scoring_again(
    runtime: AgentRuntime, unfreeze: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle(runtime)
    model = runtime.models["collaborative"]
    row = int(np.argmax(_lengths(model)))
    user = model.user_map.external_ids[row]
    expected = model.recommend(user, k=10)

    def no_scoring(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kept user was scored again")

    monkeypatch.setattr(model, "_score_users", no_scoring)
    assert list(model.recommend(user, k=10).ids()) == list(expected.ids())


def test_settle_does_not_keep_light_users(runtime: AgentRuntime, unfreeze: None) -> None:
    settle(runtime)
    for model in runtime.models.values():
        lengths = _lengths(model)
        light = np.flatnonzero((lengths > 0) & (lengths < HEAVY))
        assert light.size
        assert not set(model._kept) & {int(u) for u in light}


def test_settle_is_idempotent_and_freezes_start_up_objects(runtime: AgentRuntime, unfreeze: None) -> None:
    settle(runtime)
    model = runtime.models["collaborative"]
    kept = {row: scores.copy() for row, scores in model._kept.items()}
    pipeline = Ranking.of(runtime)
    titles = runtime.catalog._titles

    settle(runtime)
    assert model._kept.keys() == kept.keys()
    assert all(np.array_equal(model._kept[row], scores) for row, scores in kept.items())
    assert Ranking.of(runtime) is pipeline  # the shared pipeline is reused, not rebuilt
    assert runtime.catalog._titles is titles

    assert gc.get_freeze_count() > 0
    # Frozen objects leave the collector's generations: a full collection no longer walks them.
    tracked = gc.get_objects()
    assert not any(obj is runtime.catalog for obj in tracked)
    assert not any(obj is model for obj in tracked)


def test_prepare_builds_the_lookup_tables_a_request_would_build() -> None:
    dataset = known_answer_dataset().dataset
    catalog = Catalog(dataset)
    tables = ["_columns", "_titles", "_id_list", "_positions_by_text", "_normalised_titles"]
    tables += ["popularity", "rating_score"]
    assert not set(tables) & vars(catalog).keys()
    assert "sequences" not in vars(dataset)

    catalog.prepare()

    assert set(tables) <= vars(catalog).keys()
    assert "sequences" in vars(dataset)
    # The built tables are the ones requests read.
    first = dataset.items.external_ids[0]
    assert catalog.title(first) == str(dataset.catalog["title"].iloc[0])
    assert catalog.lookup([first, "not-an-item"]).tolist() == [0, -1]


def test_keep_heavy_users_keeps_exact_scores_of_users_over_the_threshold() -> None:
    model = build_model("ease").fit(_ladder())
    lengths = _lengths(model)

    assert model.keep_heavy_users(min_history=6) == int((lengths >= 6).sum())
    assert set(model._kept) == {int(u) for u in np.flatnonzero(lengths >= 6)}
    for row, scores in model._kept.items():
        assert np.array_equal(scores, _fresh(model, row))
    assert model.keep_heavy_users(min_history=100) == 0
    assert model._kept == {}


def test_keep_heavy_users_honours_the_memory_cap_longest_histories_first() -> None:
    model = build_model("ease").fit(_ladder())
    row_bytes = 4 * model.n_items

    assert model.keep_heavy_users(min_history=1, budget_bytes=0) == 0
    assert model._kept == {}
    assert model.keep_heavy_users(min_history=1, budget_bytes=2 * row_bytes + row_bytes // 2) == 2
    lengths = _lengths(model)
    longest = {int(u) for u in np.argsort(-lengths, kind="stable")[:2]}
    assert set(model._kept) == longest


def test_refit_drops_kept_scores_and_keeping_again_matches_the_new_fit() -> None:
    model = build_model("ease").fit(_ladder())
    assert model.keep_heavy_users(min_history=6) > 0
    old = {row: scores.copy() for row, scores in model._kept.items()}

    # Refit on different data: the heavy users now have other histories.
    model.fit(_ladder(shift=5))
    assert model._kept == {}

    model.keep_heavy_users(min_history=6)
    assert model._kept
    for row, scores in model._kept.items():
        assert np.array_equal(scores, _fresh(model, row))
    assert any(not np.array_equal(model._kept[row], old[row]) for row in old if row in model._kept)
