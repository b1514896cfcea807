"""Least privilege in the plan: a write the policy would refuse whatever its arguments is not offered.

What the planner is offered comes from the policy itself (``SafetyPolicy.could_allow`` through
``ToolDispatcher.offered``); the dispatcher still decides every call, offered or not.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from recpilot.agent.agent import DEFAULT_TOOLS, RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse, Plan, PlanStep
from recpilot.llm.chat import Question
from recpilot.llm.models import override_allow_remote_requests
from recpilot.safety import SafetyPolicy, load_policy
from recpilot.testing.llm_models import ScriptedModel, scripted_model
from recpilot.tools.context import Catalog
from recpilot.tools.dispatcher import ToolSpec

READS = {spec.name for spec in DEFAULT_TOOLS if spec.privilege == "read"}
WRITES = {spec.name for spec in DEFAULT_TOOLS if spec.privilege == "write"}
_sessions = itertools.count()
COMEDIES = Plan(
    intent="recommend",
    steps=[PlanStep(tool="search_catalog", args={"attributes": {"genres": ["Comedy"]}})],
)


@pytest.fixture(autouse=True)
def _no_remote_llm() -> Iterator[None]:
    with override_allow_remote_requests(False):
        yield


def reply(messages: Any, info: Any) -> dict[str, Any]:
    return {"reply": "Here you are.", "item_ids": [], "notes": {}}


class RecordingBrain(LLMBrain):
    """An LLM brain that keeps the plan questions it asked (their instructions and wire schema)."""

    def __init__(self, model: ScriptedModel) -> None:
        super().__init__(model)
        self.asked: list[Question[Plan]] = []

    def plan_question(self, specs: Sequence[ToolSpec], catalog: Catalog) -> Question[Plan]:
        question = super().plan_question(specs, catalog)
        self.asked.append(question)
        return question


def turn(
    runtime: AgentRuntime, message: str, plan: Plan = COMEDIES, policy: SafetyPolicy | None = None
) -> tuple[AgentResponse, RecordingBrain]:
    brain = RecordingBrain(scripted_model(plan, *([COMEDIES] if plan is not COMEDIES else []), reply))
    agent = RecommenderAgent(runtime, brain=brain, policy=policy)
    response = agent.respond("offered-user", message, session_id=f"offered-{next(_sessions)}")
    return response, brain


def offered(brain: RecordingBrain) -> tuple[set[str], set[str]]:
    """The tools in the plan request's instructions and in its wire schema (the decoding grammar)."""
    question = brain.asked[0]
    listed = {name for name in READS | WRITES if f"- {name}(" in question.instructions}
    steps = question.schema["properties"]["steps"]["items"]["anyOf"]
    return listed, {step["properties"]["tool"]["const"] for step in steps}


def test_a_turn_that_asks_for_no_write_is_offered_no_write_tool(runtime: AgentRuntime) -> None:
    response, brain = turn(runtime, "a 90s comedy")
    assert response.brain == "llm"
    listed, grammar = offered(brain)
    assert listed == grammar == READS


def test_the_instructions_name_no_tool_the_turn_does_not_offer(runtime: AgentRuntime) -> None:
    for message in ("a 90s comedy", "no horror this week"):
        _, brain = turn(runtime, message)
        instructions = brain.asked[0].instructions
        _, grammar = offered(brain)
        named = {name for name in READS | WRITES if name in instructions}  # anywhere, explanations too
        assert named == grammar, message
    assert 'A standing instruction ("no horror this week") is intent feed: add_feed_rule.' in instructions
    assert instructions.count("add_feed_rule") == 2  # explained, then listed with no second description


def test_a_turn_that_asks_for_a_write_is_offered_that_write_only(runtime: AgentRuntime) -> None:
    _, brain = turn(runtime, "remember that I love westerns")
    listed, grammar = offered(brain)
    assert listed == grammar
    assert READS | {"remember_preference"} <= grammar
    assert not grammar & {"add_feed_rule", "remove_feed_rule", "forget_preference", "forget_everything"}


def test_with_policies_off_every_tool_is_offered(runtime: AgentRuntime) -> None:
    _, brain = turn(runtime, "a 90s comedy", policy=load_policy("allow-all"))
    listed, grammar = offered(brain)
    assert listed == grammar == READS | WRITES


def test_a_policy_that_allows_a_write_keeps_it_offered(runtime: AgentRuntime) -> None:
    policy = load_policy("default")
    notes = SafetyPolicy(
        name="notes", rules=[{"tool": "remember_preference", "action": "allow"}], default="deny"
    ).then(policy)
    _, brain = turn(runtime, "a 90s comedy", policy=notes)
    _, grammar = offered(brain)
    assert grammar == READS | {"remember_preference"}


def test_an_unoffered_write_sent_anyway_is_still_refused(runtime: AgentRuntime) -> None:
    write = PlanStep(
        tool="add_feed_rule", args={"effect": "exclude", "attribute": "genres", "value": "Horror"}
    )
    plan = COMEDIES.model_copy(update={"steps": [write, *COMEDIES.steps]})
    response, brain = turn(runtime, "a 90s comedy", plan=plan)
    _, grammar = offered(brain)
    assert "add_feed_rule" not in grammar
    refused = [s for s in response.trace if s.name == "add_feed_rule"]
    assert [(s.kind, s.ok) for s in refused] == [("policy", False)]
    assert "did not ask" in refused[0].detail
    assert ("fallback", "replan") in [(s.kind, s.name) for s in response.trace]
