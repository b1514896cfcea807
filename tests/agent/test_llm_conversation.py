"""The LLM brain expresses critiques and feed rules through typed tools (scripted models, no network)."""

from __future__ import annotations

import uuid

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import HardConstraints, Intent, Plan, PlanStep
from recpilot.testing.llm_models import scripted_model

COMEDY = HardConstraints(attributes={"genres": ["Comedy"]})


def _plan(intent: Intent, *steps: PlanStep) -> Plan:
    constraints = COMEDY if intent != "feed" else HardConstraints()
    return Plan(intent=intent, steps=list(steps), constraints=constraints)


def _search() -> PlanStep:
    return PlanStep(tool="search_catalog", args={"attributes": {"genres": ["Comedy"]}})


def _reply(text: str) -> dict[str, object]:
    return {"reply": text, "item_ids": [], "notes": {}}


def test_a_critique_plan_rejects_the_shown_item_and_reranks(runtime: AgentRuntime) -> None:
    user, session = f"llm-{uuid.uuid4().hex[:8]}", f"llm-{uuid.uuid4().hex[:8]}"
    first_model = scripted_model(
        _plan("recommend", _search(), PlanStep(tool="rank_candidates", args={"k": 5})), _reply("Comedies.")
    )
    first = RecommenderAgent(runtime, brain=LLMBrain(first_model)).respond(
        user, "comedies", session_id=session
    )
    second_model = scripted_model(
        _plan(
            "critique",
            PlanStep(tool="critique_shown", args={"kind": "reject", "position": 2}),
            _search(),
            PlanStep(tool="rank_candidates", args={"k": 5}),
        ),
        _reply("Without that one."),
    )
    second = RecommenderAgent(runtime, brain=LLMBrain(second_model)).respond(
        user, "not the second one", session_id=session
    )
    assert not second.degraded
    assert "Shown last (position. title #id):\n<<<DATA shown\n1. " in second_model.calls[0].prompt
    rejected = first.items[1].item_id
    assert rejected not in {i.item_id for i in second.items}
    state = runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.rejected_items == [str(rejected)]
    assert [c.kind for c in state.critiques] == ["reject"]


def test_a_feed_rule_from_the_llm_is_stored_and_obeyed(runtime: AgentRuntime) -> None:
    user = f"llm-{uuid.uuid4().hex[:8]}"
    model = scripted_model(
        _plan(
            "feed",
            PlanStep(
                tool="add_feed_rule",
                args={"effect": "exclude", "attribute": "genres", "value": "Romance", "days": 7,
                      "text": "no more romance this week"},
            ),
        ),
        _reply("No more romance for a week."),
    )  # fmt: skip
    response = RecommenderAgent(runtime, brain=LLMBrain(model)).respond(user, "no more romance this week")
    assert not response.degraded
    (rule,) = runtime.memory.feed_rules(user)
    assert (rule.effect, rule.target.describe()) == ("exclude", "genres=Romance")
    later = RecommenderAgent(runtime).respond(user, "comedies")
    assert later.items
    assert not any("Romance" in i.attributes.get("genres", []) for i in later.items)


def test_a_bad_position_is_a_failed_tool_call_not_a_crash(runtime: AgentRuntime) -> None:
    session = f"llm-{uuid.uuid4().hex[:8]}"
    bad = _plan("critique", PlanStep(tool="critique_shown", args={"kind": "reject", "position": 7}))
    model = scripted_model(bad, bad, _reply("Which one did you mean?"))
    response = RecommenderAgent(runtime, brain=LLMBrain(model)).respond(
        "1", "not the seventh one", session_id=session
    )
    # Nothing was shown, so no critique is one the user's words can name: the policy refuses the call
    # (it never reaches the tool), and the refusal goes back to the model like a failed step.
    failed = [s for s in response.trace if s.kind == "policy" and s.name == "critique_shown"]
    assert len(failed) == 2  # the plan, and the plan asked for again with the failure
    assert not any(s.ok for s in failed)
    assert "critique_shown refused" in failed[0].detail
    assert "critique_shown refused" in model.calls[1].prompt
    assert response.degraded  # the offline brain answered the turn
    assert response.reply
