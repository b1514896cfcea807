"""The ranking pipeline adjusts the whole catalog only when an adjuster may lift items (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recpilot.agent import build_runtime
from recpilot.agent.runtime import AgentRuntime
from recpilot.conversation.reflection import CritiqueAdjuster
from recpilot.data import Dataset
from recpilot.memory import InMemoryProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.ranking import RankingContext
from recpilot.tools import RECOMMENDER_TOOLS, ToolContext, ToolDispatcher
from recpilot.types import ItemId


class LiftingAdjuster(CritiqueAdjuster):
    """The same adjuster, declared as lifting: the ranking tool then scores every item."""

    @property
    def only_drops(self) -> bool:
        return False


@pytest.fixture(scope="module")
def runtime() -> AgentRuntime:
    rng = np.random.default_rng(3)
    n_items, n_users = 1500, 120
    items = pd.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1),
            "title": [f"Title {i}" for i in range(1, n_items + 1)],
            "year": 1950 + np.arange(n_items) % 70,
        }
    )
    pairs = {(u, int(i)) for u in range(1, n_users + 1) for i in rng.choice(n_items, 25) + 1}
    frame = pd.DataFrame(sorted(pairs), columns=["user_id", "item_id"])
    dataset = Dataset.from_frames(frame, items, name="reflection-ranking")
    return build_runtime(dataset, roles={"collaborative": "ease"}, memory=InMemoryProfileMemory())


class Counting:
    """Runs an adjuster and remembers the most scores it was given at once."""

    def __init__(self, adjuster: CritiqueAdjuster) -> None:
        self.adjuster = adjuster
        self.only_drops = adjuster.only_drops
        self.most = 0

    def __call__(self, ctx: RankingContext, scores: dict[ItemId, float]) -> dict[ItemId, float]:
        self.most = max(self.most, len(scores))
        return self.adjuster(ctx, scores)


def _rank(runtime: AgentRuntime, adjuster: CritiqueAdjuster) -> tuple[list[object], int]:
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, "7")
    counting = Counting(adjuster)
    context.score_adjusters = [counting]
    record = ToolDispatcher(RECOMMENDER_TOOLS).call("rank_candidates", {"k": 10}, context)
    assert record.ok, record.error
    ranked = [item for item, _ in context.candidates.ranked]
    return ranked, counting.most


def test_a_dropping_adjuster_ranks_like_the_whole_catalog_from_a_short_head(runtime: AgentRuntime) -> None:
    top, _ = _rank(runtime, CritiqueAdjuster(DialogueState(session_id="s", user_id="7")))
    state = DialogueState(session_id="s", user_id="7", rejected_items=[str(i) for i in top[:5]])
    state.numeric_bounds["year"] = (1960.0, None)
    fast, scored = _rank(runtime, CritiqueAdjuster(state))
    whole, scored_all = _rank(runtime, LiftingAdjuster(state))
    assert fast == whole
    assert not set(fast) & set(top[:5])
    assert scored < scored_all


def test_weights_make_the_adjuster_lift() -> None:
    state = DialogueState(session_id="s", user_id="u")
    assert CritiqueAdjuster(state).only_drops
    state.attribute_weights["genres=Crime"] = -1.0
    assert not CritiqueAdjuster(state).only_drops
