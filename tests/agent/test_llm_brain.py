"""The LLM brain with pydantic-ai test models: plan-first turns, grounding, fallbacks and usage books."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.usage import RequestUsage

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import ToolRunner, Turn
from recpilot.agent.llm_brain import LLMBrain, build_llm_brain
from recpilot.agent.prompts import ground_reply
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse, HardConstraints, NumericRange, Plan, PlanStep, TraceStep
from recpilot.errors import ConfigError
from recpilot.llm import LLMSettings, LLMUnavailableError
from recpilot.llm.models import override_allow_remote_requests
from recpilot.memory.base import Preference
from recpilot.safety import load_policy
from recpilot.safety.datamark import datamark
from recpilot.testing.llm_models import ScriptedModel, scripted_model
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolDispatcher
from recpilot.tools.recommender_tools import RECOMMENDER_TOOLS

USAGE = RequestUsage(input_tokens=120, output_tokens=30)
COMEDY_90S = HardConstraints(
    attributes={"genres": ["Comedy"]}, numeric={"year": NumericRange(min=1990, max=1999)}
)
_sessions = itertools.count()
_ITEM_LINE = re.compile(r"^- (\S+) \| ", re.MULTILINE)


@pytest.fixture(autouse=True)
def _no_remote_llm() -> Iterator[None]:
    with override_allow_remote_requests(False):
        yield


def comedy_plan(k: int = 5) -> Plan:
    """Search 90s comedies, rank them."""
    return Plan(
        intent="recommend",
        steps=[
            PlanStep(tool="search_catalog", args=COMEDY_90S.model_dump(exclude_defaults=True)),
            PlanStep(tool="rank_candidates", args={"k": k}),
        ],
        constraints=COMEDY_90S,
        note="90s comedies",
    )


def listed_ids(messages: list[ModelMessage]) -> list[str]:
    """Item ids the writer was shown (from its prompt)."""
    return _ITEM_LINE.findall(str(messages[-1].parts[-1].content))  # type: ignore[union-attr]


def reply_with(extra_ids: list[Any] | None = None, text: str = "Here are some 90s comedies.") -> Any:
    """A writer answer choosing the listed items (plus ``extra_ids``), computed from its prompt."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> dict[str, Any]:
        ids = listed_ids(messages)
        return {"reply": text, "item_ids": [*(extra_ids or []), *ids], "notes": {ids[0]: "A fan favourite."}}

    return answer


def respond(
    runtime: AgentRuntime, brain: LLMBrain, message: str, user: str = "1", session: str | None = None
) -> AgentResponse:
    session = session or f"llm-brain-{next(_sessions)}"  # a fresh dialogue unless a test shares one
    return RecommenderAgent(runtime, brain=brain).respond(user, message, session_id=session)


def test_typical_turn_is_two_llm_calls_through_the_dispatcher(runtime: AgentRuntime) -> None:
    model = scripted_model(comedy_plan(), reply_with(), usage=USAGE)
    response = respond(runtime, LLMBrain(model), "some 90s comedies please")

    assert response.brain == "llm"
    assert not response.degraded
    assert len(model.calls) == 2
    assert response.usage.llm_calls == 2
    assert response.usage.input_tokens == 2 * USAGE.input_tokens
    assert response.usage.output_tokens == 2 * USAGE.output_tokens
    assert response.usage.failures == 0
    kinds = [(step.kind, step.name) for step in response.trace]
    assert kinds[:3] == [
        ("plan", "recommend"),
        ("tool_call", "search_catalog"),
        ("tool_call", "rank_candidates"),
    ]
    assert all(step.ok for step in response.trace if step.kind == "tool_call")
    assert 1 <= len(response.items) <= 5
    for item in response.items:
        assert "Comedy" in item.attributes["genres"]
        assert 1990 <= item.attributes["year"] <= 1999
    assert response.items[0].reasons[0].text == "A fan favourite."
    assert response.reply == "Here are some 90s comedies."


def test_planner_sees_tools_catalog_profile_and_dialogue(runtime: AgentRuntime) -> None:
    runtime.memory.remember("planner-user", Preference(kind="like_item", value="1"))
    first = scripted_model(comedy_plan(), reply_with())
    respond(runtime, LLMBrain(first), "I want a comedy", user="planner-user", session="planner-session")
    second = scripted_model(comedy_plan(), reply_with())
    respond(runtime, LLMBrain(second), "from the nineties", user="planner-user", session="planner-session")

    prompt = second.calls[0].user_prompt
    instructions = second.calls[0].system
    for tool in RECOMMENDER_TOOLS:
        assert tool.name not in prompt.split("User profile:")[0]  # tools are in the prefix, not the message
        # Reads are offered; a write this message does not ask for is not (least privilege).
        assert (f"- {tool.name}(" in instructions) == (tool.privilege == "read")
    assert "numeric?: {str: {min: number, max: number}}" in instructions  # search_catalog's arguments
    assert "genres (several per item): Drama, Comedy" in prompt
    assert "year (number): 1902 to 2018" in prompt
    assert "imdb_id" not in prompt  # identifiers are not vocabulary
    assert "like_item: Toy Story (1995) #1" in prompt
    assert datamark("user: I want a comedy") in prompt  # earlier messages are marked as data
    assert "User message: from the nineties" in prompt
    assert [o.name for o in second.calls[0].info.output_tools] == ["final_result"]


def test_invented_item_never_reaches_the_response(runtime: AgentRuntime) -> None:
    invented = "The Room 2 (2031)"
    text = f"Start with {invented}, a hidden gem. Everything else here is a solid 90s comedy."
    model = scripted_model(comedy_plan(), reply_with([invented], text=text))
    response = respond(runtime, LLMBrain(model), "90s comedies")

    assert not response.degraded
    assert response.items
    assert all("Room 2" not in item.title and "2031" not in item.title for item in response.items)
    assert "Room 2" not in response.reply
    assert response.reply == "Everything else here is a solid 90s comedy."
    unresolved = [s for s in response.trace if s.kind == "grounding" and s.name == "unresolved"]
    assert unresolved[0].args == {"named": invented}
    assert any(s.name == "reply_mention" for s in response.trace)


def test_named_catalog_item_is_resolved_by_search_when_it_satisfies_the_constraints(
    runtime: AgentRuntime,
) -> None:
    comedies = ["Groundhog Day (1993)", "Clueless (1995)", "Dumb & Dumber (Dumb and Dumber) (1994)"]
    chosen: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> dict[str, Any]:
        shown = str(messages[-1].parts[-1].content)  # type: ignore[union-attr]
        chosen.append(next(title for title in comedies if title not in shown))  # a 90s comedy not ranked
        text = f"{chosen[0]} tops my list."
        return {"reply": text, "item_ids": [chosen[0], "Alien (1979)", *listed_ids(messages)]}

    model = scripted_model(comedy_plan(k=3), answer)
    response = respond(runtime, LLMBrain(model), "90s comedies")

    titles = [item.title for item in response.items]
    assert titles[0] == chosen[0]
    assert "Alien (1979)" not in titles  # in the catalog, but a 70s horror film
    assert len(titles) == 4
    resolved = [s for s in response.trace if s.kind == "grounding" and s.name == "resolved"]
    assert [s.args["named"] for s in resolved] == [chosen[0]]
    dropped = [s for s in response.trace if s.kind == "grounding" and s.args.get("named") == "Alien (1979)"]
    assert dropped
    assert not dropped[0].ok
    assert response.reply == f"{chosen[0]} tops my list."


def test_invalid_plan_is_retried_with_validation_feedback(runtime: AgentRuntime) -> None:
    model = scripted_model({"intent": "binge", "steps": []}, comedy_plan(), reply_with(), usage=USAGE)
    response = respond(runtime, LLMBrain(model), "90s comedies")

    assert not response.degraded
    assert "intent" in model.calls[1].prompt  # the validation error went back to the model
    assert response.usage.llm_calls == 3
    assert response.usage.failures == 1
    assert response.usage.input_tokens == 3 * USAGE.input_tokens


def test_a_plan_naming_an_unknown_tool_is_repaired_before_anything_runs(runtime: AgentRuntime) -> None:
    bad_plan = Plan(steps=[PlanStep(tool="launch_missiles")], constraints=COMEDY_90S)
    model = scripted_model(bad_plan, comedy_plan(), reply_with(), usage=USAGE)
    response = respond(runtime, LLMBrain(model), "90s comedies")

    assert not response.degraded
    assert response.usage.llm_calls == 3
    assert response.usage.failures == 1  # the unusable plan
    assert "unknown tool 'launch_missiles'" in model.calls[1].prompt
    assert not [s for s in response.trace if s.name == "launch_missiles"]  # it never reached the dispatcher
    assert 1 <= len(response.items) <= 5
    assert all("Comedy" in item.attributes["genres"] for item in response.items)


def test_plan_with_an_unknown_attribute_or_bad_arguments_is_not_run(runtime: AgentRuntime) -> None:
    bad = Plan(
        steps=[PlanStep(tool="rank_candidates", args={"k": "many"})],
        constraints=HardConstraints(attributes={"genre": ["Comedy"]}),
    )
    good = Plan(
        steps=[PlanStep(tool="search_catalog", args={"attributes": {"genres": ["Comedy"]}})],
        constraints=HardConstraints(attributes={"genres": ["Comedy"]}),
    )
    model = scripted_model(bad, good, reply_with())
    response = respond(runtime, LLMBrain(model), "comedies")

    assert "unknown attribute 'genre'" in model.calls[1].prompt
    assert "invalid arguments for rank_candidates: k:" in model.calls[1].prompt
    plans = [s for s in response.trace if s.kind == "plan"]
    assert [p.args["steps"][0]["tool"] for p in plans] == ["search_catalog"]  # the bad plan never ran
    assert response.constraints.attributes == {"genres": ["Comedy"]}
    assert response.items


def test_a_plan_step_is_judged_by_the_dispatcher_as_its_call_would_be(runtime: AgentRuntime) -> None:
    dispatcher = ToolDispatcher(RECOMMENDER_TOOLS)
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, "1")
    bad = [("rank_candidates", {"k": "many"}), ("teleport", {}), ("rank_candidates", {"k": 3, "extra": 1})]
    for name, args in bad:
        problem = dispatcher.validate(name, args)
        assert problem is not None
        assert dispatcher.call(name, args, context).error == problem  # one source of truth
    assert dispatcher.validate("rank_candidates", {"k": 3}) is None


def test_a_plan_that_stays_invalid_ends_in_the_offline_brain(runtime: AgentRuntime) -> None:
    model = scripted_model(*[Plan(steps=[PlanStep(tool="nope")])] * 2)
    response = respond(runtime, LLMBrain(model, output_retries=1), "anything")

    assert len(model.calls) == 2
    assert response.degraded
    assert response.brain != "llm"
    assert response.reply
    assert any(s.kind == "fallback" and not s.ok for s in response.trace)


def test_empty_answers_make_the_llm_unavailable(runtime: AgentRuntime) -> None:
    model = scripted_model("", "", usage=USAGE)
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, "1")
    runner = ToolRunner(ToolDispatcher(RECOMMENDER_TOOLS), context)
    with pytest.raises(LLMUnavailableError) as caught:
        asyncio.run(LLMBrain(model, output_retries=1).act(Turn("1", "s", "hello"), runner))
    assert caught.value.stage == "plan"
    assert caught.value.usage.llm_calls == 2
    assert caught.value.usage.failures == 2
    assert caught.value.usage.input_tokens == 2 * USAGE.input_tokens
    assert "Traceback" not in str(caught.value)


def test_brain_failure_degrades_to_the_offline_brain(runtime: AgentRuntime) -> None:
    model = scripted_model("", "")
    response = respond(runtime, LLMBrain(model), "90s comedies")

    assert response.degraded
    assert response.brain != "llm"
    assert response.reply
    fallback = [s for s in response.trace if s.kind == "fallback"]
    assert fallback
    assert "LLMUnavailableError" in fallback[0].detail


def test_compose_failure_keeps_the_plan_and_writes_the_offline_reply(runtime: AgentRuntime) -> None:
    model = scripted_model(comedy_plan(), "", "")
    response = respond(runtime, LLMBrain(model), "90s comedies")

    assert len(model.calls) == 3
    assert response.items  # ranked by the LLM's plan
    assert all("Comedy" in item.attributes["genres"] for item in response.items)
    assert response.reply
    assert any(s.kind == "fallback" for s in response.trace)


def test_reflection_is_a_third_call_that_can_drop_items(runtime: AgentRuntime) -> None:
    def critique(messages: list[ModelMessage], info: AgentInfo) -> dict[str, Any]:
        first = listed_ids(messages)[0]
        return {
            "ok": False,
            "problems": ["item 1 is too long"],
            "reply": "Fixed reply.",
            "drop_item_ids": [first],
        }

    model = scripted_model(comedy_plan(), reply_with(), critique)
    baseline = respond(runtime, LLMBrain(scripted_model(comedy_plan(), reply_with())), "90s comedies")
    response = respond(runtime, LLMBrain(model, reflect=True), "90s comedies")

    assert response.usage.llm_calls == 3
    assert response.reply == "Fixed reply."
    assert [i.item_id for i in response.items] == [i.item_id for i in baseline.items][1:]
    assert any(s.name == "reflect" and not s.ok for s in response.trace)


def test_details_turn_lets_the_writer_see_tool_results(runtime: AgentRuntime) -> None:
    plan = Plan(intent="details", steps=[PlanStep(tool="item_details", args={"items": ["Toy Story"]})])
    model = scripted_model(plan, {"reply": "Toy Story is a 1995 animated comedy."})
    response = respond(runtime, LLMBrain(model), "tell me about Toy Story")

    assert response.usage.llm_calls == 2
    assert response.items == []
    assert datamark("item_details: Toy Story (1995)") in model.calls[1].prompt  # tool results marked as data
    assert response.reply == "Toy Story is a 1995 animated comedy."


def test_ground_reply_keeps_shown_titles_in_any_spelling() -> None:
    trace: list[TraceStep] = []
    allowed = ["Matrix, The (1999)", "Toy Story (1995)"]
    reply = "Watch The Matrix (1999) tonight. Then **Toy Story (1995)**! Skip Titanic (1997)."
    assert (
        ground_reply(reply, allowed, trace) == "Watch The Matrix (1999) tonight. Then **Toy Story (1995)**!"
    )
    assert [s.args["mention"] for s in trace] == ["Skip Titanic (1997)"]
    assert ground_reply("Nothing to see (2031).", allowed, []) == ""


def test_build_llm_brain_needs_a_key_only_for_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("RECPILOT_LLM_API_KEY", raising=False)
    monkeypatch.delenv("RECPILOT_LLM_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="API key"):
        build_llm_brain()
    monkeypatch.setenv("RECPILOT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    brain = build_llm_brain(reflect=True)
    assert isinstance(brain.llm.model, LLMSettings)
    assert brain.llm.model.base_url == "http://127.0.0.1:9/v1"
    assert brain.reflect
    assert brain.name == "llm"


def test_scripted_model_reports_an_exhausted_script() -> None:
    model = ScriptedModel([])
    assert model.remaining == 0
    with pytest.raises(RuntimeError, match="no answer left"):
        Agent(model).run_sync("hi")


def test_a_replan_starts_over_with_the_failed_plans_writes_undone(runtime: AgentRuntime) -> None:
    failed = Plan(
        intent="recommend",
        steps=[
            PlanStep(tool="remember_preference", args={"kind": "like_item", "value": "Heat"}),
            PlanStep(tool="search_catalog", args={"attributes": {"genres": ["Horror"]}}),
            PlanStep(tool="rank_candidates", args={"model": "sequential"}),  # no such model: fails
        ],
    )
    model = scripted_model(failed, comedy_plan(), reply_with())
    agent = RecommenderAgent(runtime, brain=LLMBrain(model), policy=load_policy("allow-all"))
    response = agent.respond("replan-user", "some 90s comedies please", session_id="replan")

    assert not response.degraded
    assert [(s.kind, s.name, s.ok) for s in response.trace][:5] == [
        ("plan", "recommend", True),
        ("tool_call", "remember_preference", True),
        ("tool_call", "search_catalog", True),
        ("tool_call", "rank_candidates", False),
        ("fallback", "replan", False),
    ]
    # The second plan ran on a fresh context: no like written by the abandoned plan, no Horror filter.
    assert runtime.memory.profile("replan-user").values("like_item") == []
    assert response.items
    for item in response.items:
        assert "Comedy" in item.attributes["genres"]
