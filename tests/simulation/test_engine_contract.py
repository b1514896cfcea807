"""Every decision engine passes the same contract: the calibrated offline engine and the LLM engine."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.types import Page, PageDecision, ShownItem, SimAction
from recpilot.testing.llm_models import scripted_model
from recpilot.testing.simulation import (
    DecisionEngineContract,
    EngineScenario,
    decision_problems,
    engine_scenario,
)


class TestOfflineEngine(DecisionEngineContract):
    def make_engine(self, scenario: EngineScenario) -> DecisionEngine:
        return OfflineEngine(seed=0).fit(scenario.dataset)


def _answer_from_prompt(messages: list[Any], info: Any) -> dict[str, Any]:
    """A stand-in user: opens the page's second item (rated on the page's scale), leaves on page 3+."""
    text = str(messages[-1].parts[-1].content)
    if "## The page" not in text:  # the interview: names the items it opened
        opened = re.findall(r"click \[([^\]]+)\]", text)
        return {"reason": "saw what I wanted", "satisfaction": 0.6, "liked": opened[:1], "disliked": []}
    ids = re.findall(r"^\d+\. \[([^\]]+)\]", text.split("## The page")[1], re.MULTILINE)
    low, high = (float(x) for x in re.search(r"scale from (\S+) to (\S+?)\.", text).groups())  # type: ignore[union-attr]
    page_number = int(re.search(r"page (\d+)\.", text).group(1))  # type: ignore[union-attr]
    clicked = (
        [{"item_id": ids[1], "rating": (low + high) / 2, "reason": "looks good"}] if len(ids) > 1 else []
    )
    return {"clicked": clicked, "leave": page_number >= 3, "satisfaction": 0.6, "reason": "fine"}


class TestLLMEngine(DecisionEngineContract):
    def make_engine(self, scenario: EngineScenario) -> DecisionEngine:
        low, high = scenario.rating_range
        config = LLMEngineConfig(rating_min=low, rating_max=high)
        return LLMDecisionEngine(scripted_model(*[_answer_from_prompt] * 100), config)


def test_the_checker_names_what_is_wrong() -> None:
    """The contract's checker must fail invalid decisions (so the suite can fail an engine)."""
    page = Page(
        session=0, index=0, items=[ShownItem(item_id="a", position=0), ShownItem(item_id="b", position=1)]
    )

    def problems(*actions: SimAction, leave: bool = False) -> list[str]:
        return decision_problems(PageDecision(actions=list(actions), leave=leave), page, (1.0, 5.0))

    assert (
        problems(
            SimAction(kind="click", item_id="a", position=0),
            SimAction(kind="rate", item_id="a", position=0, rating=4.0),
        )
        == []
    )
    assert "not on the page" in problems(SimAction(kind="click", item_id="z", position=0))[0]
    assert (
        "outside"
        in problems(
            SimAction(kind="click", item_id="a", position=0),
            SimAction(kind="rate", item_id="a", position=0, rating=9.0),
        )[0]
    )
    assert "without) a click" in problems(SimAction(kind="rate", item_id="b", position=1, rating=3.0))[0]
    assert "shown at 1" in problems(SimAction(kind="view", item_id="b", position=0))[0]
    assert (
        "2 outcomes"
        in problems(
            SimAction(kind="view", item_id="a", position=0), SimAction(kind="skip", item_id="a", position=0)
        )[0]
    )
    assert "leave is True" in problems(leave=True)[0]
    assert "leave is False" in problems(SimAction(kind="leave"))[0]


def test_the_scripted_llm_answers_are_accepted_not_fallbacks() -> None:
    """The LLM engine's contract run decides from the model's answers, not from recorded fallbacks."""
    scenario = engine_scenario()
    engine = TestLLMEngine().make_engine(scenario)
    assert isinstance(engine, LLMDecisionEngine)
    decision = asyncio.run(
        engine.adecide(scenario.persona, engine.initial_state(scenario.persona), scenario.page)
    )
    clicks = [(a.item_id, a.rating) for a in decision.actions if a.kind in ("click", "rate")]
    second = scenario.page.items[1].item_id
    assert clicks == [(second, None), (second, sum(scenario.rating_range) / 2)]
    assert (engine.stats.failures, engine.stats.rejected) == (0, 0)
