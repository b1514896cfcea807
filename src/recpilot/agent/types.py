"""Typed currency of the agent layer: plans, recommended items, traces, responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recpilot.types import HardConstraints, Intent, ItemId, NumericRange, Reason, ReasonKind, Usage

__all__ = [
    "AgentResponse",
    "HardConstraints",
    "Intent",
    "ItemId",
    "NumericRange",
    "Plan",
    "PlanStep",
    "Reason",
    "ReasonKind",
    "RecommendedItem",
    "TraceKind",
    "TraceStep",
    "Usage",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanStep(_Model):
    """One tool call in a plan: the tool's name and its arguments (validated by the dispatcher)."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Plan(_Model):
    """A tool chain the executor runs top to bottom, produced by a brain in one step.

    Attributes:
        intent: What the user wants.
        steps: Tool calls in order; they share the turn's candidate set, so no item list travels
            through the brain.
        constraints: The hard constraints the user stated (grounding checks the final items).
        note: A short rationale for traces (never shown as fact to the user).
    """

    intent: Intent = "recommend"
    steps: list[PlanStep] = Field(default_factory=list)
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    note: str = ""


class RecommendedItem(_Model):
    """An item in the agent's answer, grounded in the catalog."""

    item_id: ItemId
    title: str
    score: float
    reasons: list[Reason] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


TraceKind = Literal["plan", "tool_call", "answer", "fallback", "grounding", "error", "memory", "policy"]


class TraceStep(_Model):
    """One event of a turn, for inspection and debugging."""

    kind: TraceKind
    name: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True
    detail: str = ""
    ms: float = 0.0


class AgentResponse(_Model):
    """What :meth:`RecommenderAgent.respond` returns.

    Attributes:
        user_id: The user the turn was for.
        session_id: The dialogue session.
        reply: The text shown to the user.
        items: Grounded, explained recommendations (may be empty).
        trace: Every plan, tool call, fallback and grounding decision of the turn.
        usage: LLM calls and tokens.
        brain: Which brain produced the answer (``offline`` or ``llm``).
        degraded: True when the LLM path failed and the offline brain completed the turn.
        constraints: The hard constraints the items were checked against.
    """

    user_id: str
    session_id: str
    reply: str
    items: list[RecommendedItem] = Field(default_factory=list)
    trace: list[TraceStep] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    brain: str = "offline"
    degraded: bool = False
    constraints: HardConstraints = Field(default_factory=HardConstraints)
