"""Every way a turn stores a feed rule records whose words asked for it: the user's message in turn N
read by the offline parser, an LLM's plan that the policy allowed, the offline fallback of a failed
LLM, and a simulated user's instruction; "what are my rules?" says so."""

from __future__ import annotations

import asyncio
import time
import uuid

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import HardConstraints, Plan, PlanStep
from recpilot.memory.feed_rules import FeedRule
from recpilot.simulation.environment import AgentRecommender
from recpilot.testing.llm_models import scripted_model


def _ids() -> tuple[str, str]:
    return f"prov-{uuid.uuid4().hex[:8]}", f"prov-s-{uuid.uuid4().hex[:8]}"


def _only_rule(runtime: AgentRuntime, user: str) -> FeedRule:
    (rule,) = runtime.memory.feed_rules(user)
    return rule


def test_a_rule_from_the_users_message_records_the_turn_and_session(runtime: AgentRuntime) -> None:
    user, session = _ids()
    agent = RecommenderAgent(runtime)
    agent.respond(user, "comedies", session_id=session)
    before = time.time()
    agent.respond(user, "no more horror this week", session_id=session)
    provenance = _only_rule(runtime, user).provenance
    assert (provenance.source, provenance.via, provenance.turn, provenance.session_id) == (
        "user",
        "offline_parser",
        2,
        session,
    )
    assert provenance.at is not None
    assert before <= provenance.at <= time.time()
    listing = agent.respond(user, "what are my rules?", session_id=session).reply
    assert f"from your message (turn 2 of session {session}), read by the offline parser" in listing


def test_a_rule_from_an_llm_plan_says_the_policy_allowed_it(runtime: AgentRuntime) -> None:
    user, session = _ids()
    step = PlanStep(
        tool="add_feed_rule",
        args={"effect": "exclude", "attribute": "genres", "value": "Romance", "days": 7},
    )
    model = scripted_model(
        Plan(intent="feed", steps=[step], constraints=HardConstraints()),
        {"reply": "No more romance for a week.", "item_ids": [], "notes": {}},
    )
    agent = RecommenderAgent(runtime, brain=LLMBrain(model))
    assert not agent.respond(user, "no more romance this week", session_id=session).degraded
    provenance = _only_rule(runtime, user).provenance
    assert (provenance.source, provenance.via, provenance.turn, provenance.session_id) == (
        "user",
        "llm_plan",
        1,
        session,
    )
    assert "planned by the LLM and allowed by the tool policy" in provenance.describe()


def test_the_offline_fallback_of_a_failed_llm_records_the_parser(runtime: AgentRuntime) -> None:
    user, session = _ids()
    invalid = scripted_model(*[Plan(steps=[PlanStep(tool="nope")])] * 2)
    agent = RecommenderAgent(runtime, brain=LLMBrain(invalid, output_retries=1))
    assert agent.respond(user, "no more horror this week", session_id=session).degraded
    provenance = _only_rule(runtime, user).provenance
    assert (provenance.source, provenance.via, provenance.turn) == ("user", "offline_parser", 1)


def test_a_simulated_users_instruction_is_marked_as_such(runtime: AgentRuntime) -> None:
    user, _ = _ids()
    simulated = AgentRecommender(RecommenderAgent(runtime))
    assert asyncio.run(simulated.ainstruct("p1", user, "no more horror films"))
    provenance = _only_rule(runtime, user).provenance
    assert (provenance.source, provenance.via, provenance.turn, provenance.session_id) == (
        "simulated_user",
        "offline_parser",
        1,
        "sim:p1",
    )
    assert provenance.describe().startswith("a simulated user's message (turn 1 of session sim:p1)")
