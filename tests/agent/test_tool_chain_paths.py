"""The fast paths of the tool chain give exactly what the per-item paths gave: similarity over a pool
with arrays, ranking with constraints on catalogs past the search limit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from recpilot.agent.runtime import AgentRuntime
from recpilot.data.dataset import Dataset
from recpilot.ranking import Ranking, RankingRequest
from recpilot.ranking.catalog import Catalog
from recpilot.store import CatalogStore
from recpilot.store.search import MAX_LIMIT
from recpilot.tools import RECOMMENDER_TOOLS, ToolContext, ToolDispatcher, recommender_tools
from recpilot.types import HardConstraints


def _similar(runtime: AgentRuntime, search: dict[str, object], similar: dict[str, object]) -> ToolContext:
    dispatcher = ToolDispatcher(RECOMMENDER_TOOLS)
    ctx = ToolContext(runtime.catalog, runtime.models, runtime.memory, "1")
    for name, args in (("search_catalog", search), ("similar_items", similar)):
        record = dispatcher.call(name, args, ctx)
        assert record.ok, record.error
    return ctx


@pytest.mark.parametrize(
    ("search", "similar"),
    [
        (
            {"attributes": {"genres": ["Comedy"]}, "numeric": {"year": {"min": 1990, "max": 1999}}},
            {"items": ["Toy Story"]},
        ),
        ({"attributes": {"genres": ["Sci-Fi"]}}, {"items": ["Alien", "Heat"], "content_weight": 1.0}),
        ({"keywords": "space"}, {"items": ["Star Wars"], "content_weight": 0.0}),
    ],
)
def test_similarity_over_a_pool_equals_the_per_item_path(
    runtime: AgentRuntime,
    monkeypatch: pytest.MonkeyPatch,
    search: dict[str, object],
    similar: dict[str, object],
) -> None:
    original = recommender_tools._pool_similarity
    used: list[bool] = []

    def spy(*args: Any) -> Any:
        found = original(*args)
        used.append(found is not None)
        return found

    monkeypatch.setattr(recommender_tools, "_pool_similarity", spy)
    fast = _similar(runtime, search, similar)
    assert used == [True], "the array path must have run"
    monkeypatch.setattr(recommender_tools, "_pool_similarity", lambda *args: None)  # model.recommend + dicts
    slow = _similar(runtime, search, similar)
    assert len(fast.candidates.scores) > 10
    # Same items, same scores, same order (ties included), same items explained.
    assert list(fast.candidates.scores.items()) == list(slow.candidates.scores.items())
    assert fast.candidates.reasons.keys() == slow.candidates.reasons.keys()


def test_constraints_rank_a_catalog_larger_than_the_search_limit() -> None:
    n_items = MAX_LIMIT + 50
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items),
            "title": [f"Item {i}" for i in range(n_items)],
            "genres": [["Odd"] if i % 2 else ["Even"] for i in range(n_items)],
        }
    )
    interactions = pd.DataFrame(
        {"user_id": [0, 0, 1], "item_id": [n_items - 1, n_items - 3, n_items - 1], "timestamp": [1, 2, 3]}
    )
    dataset = Dataset.from_frames(interactions, items, name="wide")
    with CatalogStore(":memory:") as store:
        store.import_dataset(dataset)
        ranking = Ranking(Catalog(dataset, store), {})
        request = RankingRequest(
            model="popularity",
            constraints=HardConstraints(attributes={"genres": ["Odd"]}),
            k=3,
            explain=False,
        )
        ranked = ranking.rank(request)
    # The two items past the first 10,000 that users chose come first: the search kept every match.
    assert ranked.ids()[:2] == [n_items - 1, n_items - 3]
    assert all(item % 2 for item in ranked.ids())
