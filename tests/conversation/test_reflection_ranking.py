"""The ranking tool scores the whole catalog only when an adjuster may lift items (issue 13)."""

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
from recpilot.tools import RECOMMENDER_TOOLS, ToolContext, ToolDispatcher


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


def _rank(runtime: AgentRuntime, adjuster: CritiqueAdjuster) -> tuple[list[object], int]:
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, "7")
    context.score_adjusters = [adjuster]
    record = ToolDispatcher(RECOMMENDER_TOOLS).call("rank_candidates", {"k": 10}, context)
    assert record.ok, record.error
    assert record.output is not None
    ranked = [item for item, _ in context.candidates.ranked]
    return ranked, int(record.output.summary.split()[1])  # "ranked N candidates ..."


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
