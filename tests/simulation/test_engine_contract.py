"""The decision-engine contract's checker, and the LLM engine's stand-in answers. The contract itself runs
over every registered engine in tests/core/test_registered_parts.py."""

from __future__ import annotations

import asyncio

from recpilot.simulation.llm_engine import LLMDecisionEngine
from recpilot.simulation.types import Page, PageDecision, ShownItem, SimAction
from recpilot.testing.registered import conformance_class
from recpilot.testing.simulation import (
    decision_problems,
    engine_scenario,
)


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
    engine = conformance_class("engine", "llm")().make_engine(scenario)
    assert isinstance(engine, LLMDecisionEngine)
    decision = asyncio.run(
        engine.adecide(scenario.persona, engine.initial_state(scenario.persona), scenario.page)
    )
    clicks = [(a.item_id, a.rating) for a in decision.actions if a.kind in ("click", "rate")]
    second = scenario.page.items[1].item_id
    assert clicks == [(second, None), (second, sum(scenario.rating_range) / 2)]
    assert (engine.stats.failures, engine.stats.rejected) == (0, 0)
