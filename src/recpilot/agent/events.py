"""A turn as a stream of typed events (what :meth:`RecommenderAgent.iter` yields).

Events are emitted as the turn makes progress, not rebuilt from its trace afterwards:

- ``plan``: a brain decided on a tool chain (or a dialogue act) and is about to run it;
- ``tool_call``: a tool is about to run, with the arguments the brain gave;
- ``tool_result``: it ran (or a policy refused or held it: ``step.kind == "policy"``);
- ``fallback``: a brain failed and another completes the step; tool results seen before it in the
  turn no longer count (the offline brain starts over on a fresh context);
- ``rolled_back``: the turn's memory writes were undone (a failed reply, or a refused call);
- ``step``: any other trace step (grounding decisions, memory notes, the critic's verdict);
- ``item``: one recommended item; ``reply``: the text; ``done``: the whole
  :class:`~recpilot.agent.types.AgentResponse`, always last.

Items and the reply are emitted only once the turn is committed (grounded, composed, filtered by the
feed rules, stored), so no ``item`` event is ever withdrawn: a turn that fails before that emits no
item, and the stream ends with the exception instead of ``done``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Self, SupportsIndex

from pydantic import BaseModel, ConfigDict, Field

from recpilot.agent.types import AgentResponse, PlanStep, RecommendedItem, TraceStep

__all__ = [
    "DoneEvent",
    "EventSink",
    "FallbackEvent",
    "ItemEvent",
    "PlanEvent",
    "ReplyEvent",
    "RolledBackEvent",
    "StepEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "Trace",
    "TurnEvent",
    "step_event",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanEvent(_Event):
    """A brain's plan, about to run.

    Attributes:
        intent: What the brain understood (``recommend``, ``critique``, a dialogue act...).
        steps: The tool calls it will make, in order (empty for a dialogue act).
        note: The brain's rationale, for display in a trace (not a fact about any item).
    """

    kind: Literal["plan"] = "plan"
    intent: str
    steps: list[PlanStep] = Field(default_factory=list)
    note: str = ""


class ToolCallEvent(_Event):
    """A tool call about to pass the dispatcher (validation and the policy come next).

    Attributes:
        tool: The tool's name.
        args: The arguments as the brain gave them (a JSON string is kept as it came).
    """

    kind: Literal["tool_call"] = "tool_call"
    tool: str
    args: dict[str, Any] | str = Field(default_factory=dict)


class ToolResultEvent(_Event):
    """A tool call's outcome: its trace step (``kind`` ``tool_call``, or ``policy`` when refused or held)."""

    kind: Literal["tool_result"] = "tool_result"
    step: TraceStep


class FallbackEvent(_Event):
    """A brain failed; ``step.name`` names the brain or the retry that completes the step."""

    kind: Literal["fallback"] = "fallback"
    step: TraceStep


class RolledBackEvent(_Event):
    """The turn's memory writes were undone; ``step.detail`` says how many records were restored."""

    kind: Literal["rolled_back"] = "rolled_back"
    step: TraceStep


class StepEvent(_Event):
    """Any other step of the turn's trace (grounding, memory notes, the critic, the turn's timing)."""

    kind: Literal["step"] = "step"
    step: TraceStep


class ItemEvent(_Event):
    """One item of the committed answer, in the order shown (``rank`` 1 first)."""

    kind: Literal["item"] = "item"
    rank: int
    item: RecommendedItem


class ReplyEvent(_Event):
    """The committed reply text, the brain that answered and whether a fallback completed the turn."""

    kind: Literal["reply"] = "reply"
    reply: str
    brain: str
    degraded: bool = False


class DoneEvent(_Event):
    """The end of the turn, with the whole response (the trace includes every step streamed before)."""

    kind: Literal["done"] = "done"
    response: AgentResponse


TurnEvent = Annotated[
    PlanEvent
    | ToolCallEvent
    | ToolResultEvent
    | FallbackEvent
    | RolledBackEvent
    | StepEvent
    | ItemEvent
    | ReplyEvent
    | DoneEvent,
    Field(discriminator="kind"),
]

#: Receives each event of a turn as it happens, on the thread running the turn.
EventSink = Callable[[TurnEvent], None]


def step_event(step: TraceStep) -> TurnEvent:
    """The event a trace step is streamed as (a copy: the trace may still amend its step's timing)."""
    step = step.model_copy(deep=True)
    if step.kind == "plan":
        steps = step.args.get("steps", [])
        return PlanEvent(
            intent=step.name,
            steps=[PlanStep.model_validate(s) for s in steps] if isinstance(steps, list) else [],
            note=step.detail,
        )
    if step.kind in ("tool_call", "policy"):
        return ToolResultEvent(step=step)
    if step.kind == "fallback":
        return FallbackEvent(step=step)
    if step.kind == "memory" and step.name == "rolled_back":
        return RolledBackEvent(step=step)
    return StepEvent(step=step)


class Trace(list[TraceStep]):
    """A turn's trace that hands every step to ``sink`` (as an event) the moment it is recorded.

    Steps are recorded with :meth:`append`, :meth:`extend`, ``+=`` or :meth:`insert`; each tells the sink.
    """

    def __init__(self, steps: Iterable[TraceStep] = (), *, sink: EventSink | None = None) -> None:
        super().__init__(steps)
        self.sink = sink

    def append(self, step: TraceStep) -> None:
        """Record ``step`` and stream it."""
        super().append(step)
        if self.sink is not None:
            self.sink(step_event(step))

    def extend(self, steps: Iterable[TraceStep]) -> None:
        """Record and stream each of ``steps``."""
        for step in steps:
            self.append(step)

    def __iadd__(self, steps: Iterable[TraceStep]) -> Self:  # type: ignore[override,misc]
        self.extend(steps)
        return self

    def insert(self, index: SupportsIndex, step: TraceStep) -> None:
        """Record ``step`` at ``index`` and stream it."""
        super().insert(index, step)
        if self.sink is not None:
            self.sink(step_event(step))
