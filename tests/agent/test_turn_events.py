"""A turn as a stream of typed events: order, liveness, fallbacks, rollbacks and failures."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo
from test_llm_brain import comedy_plan, reply_with

from recpilot.agent import RecommenderAgent
from recpilot.agent.brain import Act, Composition, ToolRunner, Turn
from recpilot.agent.events import (
    DoneEvent,
    FallbackEvent,
    ItemEvent,
    PlanEvent,
    ReplyEvent,
    RolledBackEvent,
    StepEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnEvent,
)
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.offline import OfflineBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import RecommendedItem, TraceStep
from recpilot.llm.models import override_allow_remote_requests
from recpilot.memory.base import DialogueTurn, InMemoryProfileMemory
from recpilot.testing.llm_models import scripted_model

_sessions = itertools.count()


@pytest.fixture(autouse=True)
def _no_remote_llm() -> Iterator[None]:
    with override_allow_remote_requests(False):
        yield


def _session() -> str:
    return f"events-{next(_sessions)}"


async def _collect(stream: AsyncIterator[TurnEvent]) -> list[TurnEvent]:
    return [event async for event in stream]


def _events(agent: RecommenderAgent, message: str, user: str = "1") -> list[TurnEvent]:
    return asyncio.run(_collect(agent.iter(user, message, session_id=_session())))


def _kinds(events: list[TurnEvent]) -> list[str]:
    return [event.kind for event in events]


def _streamed_steps(events: list[TurnEvent]) -> list[tuple[str, str]]:
    """(kind, name) of every trace step the events carried, in order."""
    steps: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, PlanEvent):
            steps.append(("plan", event.intent))
        elif isinstance(event, ToolCallEvent | ItemEvent | ReplyEvent | DoneEvent):
            continue
        else:
            steps.append((event.step.kind, event.step.name))
    return steps


def _done(events: list[TurnEvent]) -> DoneEvent:
    last = events[-1]
    assert isinstance(last, DoneEvent)
    return last


def test_an_offline_turn_streams_its_plan_and_tools_then_items_reply_and_done(runtime: AgentRuntime) -> None:
    events = _events(RecommenderAgent(runtime), "thrillers from the 90s")
    kinds = _kinds(events)
    response = _done(events).response

    first = events[0]
    assert isinstance(first, PlanEvent)
    assert first.intent == "recommend"
    assert [s.tool for s in first.steps] == [e.tool for e in events if isinstance(e, ToolCallEvent)]
    calls = [i for i, kind in enumerate(kinds) if kind == "tool_call"]
    assert calls
    for i in calls:  # each call is announced, then its result follows at once
        call, result = events[i], events[i + 1]
        assert isinstance(call, ToolCallEvent)
        assert isinstance(result, ToolResultEvent)
        assert result.step.name == call.tool
        assert result.step.ok
    assert kinds.index("item") > max(calls)
    assert kinds[-2:] == ["reply", "done"]
    items = [e for e in events if isinstance(e, ItemEvent)]
    assert [e.rank for e in items] == list(range(1, len(items) + 1))
    assert [e.item for e in items] == response.items
    assert all(1990 <= e.item.attributes["year"] <= 1999 for e in items)
    reply = events[-2]
    assert isinstance(reply, ReplyEvent)
    assert (reply.reply, reply.brain, reply.degraded) == (response.reply, "offline", False)
    # Every step of the response's trace was streamed, in the order recorded.
    assert _streamed_steps(events) == [(s.kind, s.name) for s in response.trace]


def test_an_empty_message_streams_only_its_prompt(runtime: AgentRuntime) -> None:
    events = _events(RecommenderAgent(runtime), "   ")
    assert _kinds(events) == ["reply", "done"]
    assert _done(events).response.trace == []


def test_arespond_is_the_done_event_and_respond_streams_the_same_events(runtime: AgentRuntime) -> None:
    agent = RecommenderAgent(runtime)
    message = "an animated film for kids"
    events = _events(agent, message, user="parity")
    answered = asyncio.run(agent.arespond("parity", message, session_id=_session()))
    sunk: list[TurnEvent] = []
    blocking = agent.respond("parity", message, session_id=_session(), on_event=sunk.append)

    streamed = _done(events).response
    for response in (answered, blocking):
        assert response.items == streamed.items
        assert response.reply == streamed.reply
        assert [(s.kind, s.name) for s in response.trace] == [(s.kind, s.name) for s in streamed.trace]
    assert _kinds(sunk) == _kinds(events)
    assert _done(sunk).response == blocking


def test_an_llm_turn_streams_each_step_before_the_reply_is_written(runtime: AgentRuntime) -> None:
    seen: list[str] = []

    def compose(messages: list[ModelMessage], info: AgentInfo) -> Any:
        seen.append("compose")  # the reply is written while the plan's events are already out
        return reply_with()(messages, info)

    agent = RecommenderAgent(runtime, brain=LLMBrain(scripted_model(comedy_plan(), compose)))

    async def consume() -> list[TurnEvent]:
        events = []
        async for event in agent.iter("1", "some 90s comedies please", session_id=_session()):
            seen.append(event.kind)
            events.append(event)
        return events

    events = asyncio.run(consume())
    assert seen[: seen.index("compose")] == ["plan", "tool_call", "tool_result", "tool_call", "tool_result"]
    plan = events[0]
    assert isinstance(plan, PlanEvent)
    assert (plan.intent, [s.tool for s in plan.steps]) == ("recommend", ["search_catalog", "rank_candidates"])
    assert plan.note == "90s comedies"
    kinds = _kinds(events)
    assert kinds[-2:] == ["reply", "done"]
    assert kinds.count("item") == len(_done(events).response.items) >= 1
    reply = events[-2]
    assert isinstance(reply, ReplyEvent)
    assert (reply.reply, reply.brain, reply.degraded) == ("Here are some 90s comedies.", "llm", False)


def test_a_failed_plan_streams_a_fallback_then_the_offline_answer(runtime: AgentRuntime) -> None:
    agent = RecommenderAgent(runtime, brain=LLMBrain(scripted_model("", "")))
    events = _events(agent, "90s comedies")
    kinds = _kinds(events)

    fallback = events[kinds.index("fallback")]
    assert isinstance(fallback, FallbackEvent)
    assert fallback.step.name == "offline"
    assert "LLMUnavailableError" in fallback.step.detail
    after = events[kinds.index("fallback") + 1 :]
    assert isinstance(after[0], PlanEvent)  # the offline brain starts over
    assert "item" not in kinds[: kinds.index("fallback")]
    assert kinds[-2:] == ["reply", "done"]
    reply = events[-2]
    assert isinstance(reply, ReplyEvent)
    assert reply.degraded
    assert reply.brain == "offline"
    assert _done(events).response.degraded


class _ReplyFails(OfflineBrain):
    """Acts like the offline brain, then fails to write the reply (a model that went away midway)."""

    name: ClassVar[str] = "flaky"

    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        raise RuntimeError("the model went away")


def test_a_rolled_back_turn_says_so_before_any_item(runtime: AgentRuntime) -> None:
    user = "events-rollback"
    events = _events(RecommenderAgent(runtime, brain=_ReplyFails()), "I loved Toy Story", user=user)
    kinds = _kinds(events)

    written = [e for e in events if isinstance(e, ToolResultEvent) and e.step.name == "remember_preference"]
    assert written
    assert written[0].step.ok
    rolled = events[kinds.index("rolled_back")]
    assert isinstance(rolled, RolledBackEvent)
    assert rolled.step.detail == "1 record(s) restored"
    assert kinds.index("fallback") < kinds.index("rolled_back") < kinds.index("item")
    assert runtime.memory.profile(user).values("like_item") == []
    reply = events[-2]
    assert isinstance(reply, ReplyEvent)
    assert reply.degraded


class _FailingMemory(InMemoryProfileMemory):
    """Memory whose dialogue store is down."""

    def append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        raise OSError("the dialogue store is down")


def test_a_turn_that_fails_raises_from_iter_after_its_events_and_streamed_no_item(
    runtime: AgentRuntime,
) -> None:
    memory = _FailingMemory()
    agent = RecommenderAgent(AgentRuntime(runtime.catalog, runtime.models, memory))
    events: list[TurnEvent] = []

    async def consume() -> None:
        async for event in agent.iter("u-fail", "I loved Toy Story", session_id="fail"):
            events.append(event)

    with pytest.raises(OSError, match="the dialogue store is down"):
        asyncio.run(consume())
    kinds = _kinds(events)
    assert "tool_result" in kinds
    assert not {"item", "reply", "done"} & set(kinds)
    assert memory.profile("u-fail").values("like_item") == [], "the failed turn's write was undone"
    with pytest.raises(OSError, match="the dialogue store is down"):
        asyncio.run(agent.arespond("u-fail", "I loved Toy Story", session_id="fail"))


class _Stalls(OfflineBrain):
    """Searches, then waits on a model that never answers."""

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        tools.call("remember_preference", {"kind": "like_attribute", "value": "genres=Comedy"})
        await asyncio.sleep(3600)
        return await super().act(turn, tools)


def test_leaving_the_stream_early_cancels_the_turn_and_leaves_no_write(runtime: AgentRuntime) -> None:
    memory = InMemoryProfileMemory()
    agent = RecommenderAgent(AgentRuntime(runtime.catalog, runtime.models, memory), brain=_Stalls())

    async def first_events() -> list[TurnEvent]:
        stream = agent.iter("u-leaves", "I like comedies", session_id="leaves")
        events = [await anext(stream), await anext(stream)]
        await stream.aclose()  # hangs up while the brain still waits
        return events

    events = asyncio.run(asyncio.wait_for(first_events(), timeout=30))
    assert _kinds(events) == ["tool_call", "tool_result"]
    result = events[1]
    assert isinstance(result, ToolResultEvent)
    assert (result.step.name, result.step.ok) == ("remember_preference", True)
    assert memory.profile("u-leaves").values("like_attribute") == []
    assert memory.turns("leaves") == []


def test_events_round_trip_through_json_by_their_kind(runtime: AgentRuntime) -> None:
    from pydantic import TypeAdapter

    events = _events(RecommenderAgent(runtime), "thrillers from the 90s")
    adapter: TypeAdapter[TurnEvent] = TypeAdapter(TurnEvent)
    assert [adapter.validate_json(adapter.dump_json(e)) for e in events] == events
    parsed = adapter.validate_python({"kind": "step", "step": {"kind": "error", "name": "reflect"}})
    assert isinstance(parsed, StepEvent)
    assert parsed.step == TraceStep(kind="error", name="reflect")
