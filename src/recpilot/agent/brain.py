"""The brain contract: one object decides what to do (act) and how to say it (compose).

Both the offline brain and the LLM brain implement :class:`Brain`; the agent owns everything else
(tools, grounding, explanations, memory), so the two brains are interchangeable and the LLM brain can
hand a failed turn to the offline brain.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from recpilot.agent.events import EventSink, ToolCallEvent
from recpilot.agent.types import HardConstraints, Intent, ItemId, Plan, RecommendedItem, TraceStep, Usage
from recpilot.memory.base import DialogueTurn, UserProfile
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolCall, ToolDispatcher


@dataclass(frozen=True)
class Turn:
    """The input of one turn.

    Attributes:
        user_id: The user.
        session_id: The dialogue session.
        message: What the user said (already length-checked).
        dialogue: Earlier messages of the session (condensed: a summary turn may come first).
        profile: The user's long-term profile.
    """

    user_id: str
    session_id: str
    message: str
    dialogue: list[DialogueTurn] = field(default_factory=list)
    profile: UserProfile | None = None


class Act(BaseModel):
    """What a brain did in :meth:`Brain.act`.

    Attributes:
        intent: The user's intent as understood.
        constraints: Hard constraints the user stated (merged with those the tools recorded).
        reply: A complete reply for turns that recommend nothing (profile listing, refusal...).
        usage: LLM usage so far.
        note: A short rationale for the trace.
        degraded: The brain could not do its job and a fallback completed the step.
        keep_state: The turn leaves the dialogue state as it was (an off-topic message, a reference
            to an item that was not shown): not even the turn counter moves.
    """

    model_config = ConfigDict(extra="forbid")

    intent: Intent = "recommend"
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    reply: str | None = None
    usage: Usage = Field(default_factory=Usage)
    note: str = ""
    degraded: bool = False
    keep_state: bool = False


class Composition(BaseModel):
    """What a brain says about the grounded items.

    Attributes:
        reply: The text for the user.
        item_ids: The items to show, in order (a subset of the grounded ones; others are dropped or
            resolved by the agent); None keeps the grounded order.
        notes: Extra per-item explanation text, by item id.
        usage: LLM usage of this step.
        degraded: The reply comes from a fallback, not from the brain asked.
    """

    model_config = ConfigDict(extra="forbid")

    reply: str
    item_ids: list[ItemId] | None = None
    notes: dict[str, str] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    degraded: bool = False


@dataclass
class ToolRunner:
    """Runs tools and plans for a brain through the dispatcher, recording every call in the trace.

    Attributes:
        dispatcher: The one choke point every call passes (validation, policy, timing).
        context: The turn's shared state (candidates, constraints, dialogue, request).
        trace: The turn's steps; a :class:`~recpilot.agent.events.Trace` streams each as it is recorded.
        sink: Receives a ``tool_call`` event before each call runs (None: the turn is not streamed).
        restart: Makes the turn's context afresh with every write of its tool calls undone (the agent
            gives one, see :meth:`start_over`).
    """

    dispatcher: ToolDispatcher
    context: ToolContext
    trace: list[TraceStep] = field(default_factory=list)
    sink: EventSink | None = None
    restart: Callable[[], ToolContext] | None = None

    def start_over(self) -> None:
        """Undo what this turn's tool calls did (memory writes, candidates, constraints, referenced
        items, recorded critiques and answers) and continue on a fresh context: a brain whose plan
        failed half-way plans again from where the turn began. The trace keeps every step."""
        if self.restart is None:
            raise RuntimeError("this tool runner cannot start over: it was made without a restart")
        self.context = self.restart()

    def call(self, name: str, args: dict[str, Any] | str | None = None) -> ToolCall:
        """Run one tool call and record it."""
        if self.sink is not None:
            self.sink(ToolCallEvent(tool=name, args=args if args is not None else {}))
        record = self.dispatcher.call(name, args, self.context)
        denied = record.denied
        self.trace.append(
            TraceStep(
                kind="policy" if denied else "tool_call",
                name=name,
                args=record.args if denied is None else {**record.args, "decision": denied.model_dump()},
                ok=record.ok,
                detail=record.output.summary if record.output else record.error,
                ms=record.ms,
            )
        )
        return record

    def run_plan(self, plan: Plan) -> list[ToolCall]:
        """Run a plan's steps in order, stopping at the first failed step."""
        started = time.perf_counter()
        self.trace.append(
            TraceStep(
                kind="plan",
                name=plan.intent,
                args={"steps": [s.model_dump() for s in plan.steps]},
                detail=plan.note,
            )
        )
        records: list[ToolCall] = []
        for step in plan.steps:
            record = self.call(step.tool, step.args)
            records.append(record)
            if not record.ok:
                break
        self.trace[-len(records) - 1].ms = (time.perf_counter() - started) * 1000
        return records


class Brain(ABC):
    """Decides and speaks for the agent. Implementations fill :meth:`act` and :meth:`compose`."""

    name: ClassVar[str] = "brain"

    @abstractmethod
    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        """Understand the message and drive the tools (the ranking lands in the candidate set)."""

    @abstractmethod
    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        """Write the reply for the grounded, explained ``items``."""
