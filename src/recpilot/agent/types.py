"""Typed currency of the agent layer: plans, constraints, recommended items, traces, responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ItemId = int | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumericRange(_Model):
    """An inclusive numeric range; either bound may be open."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float | None) -> bool:
        """Whether ``value`` lies in the range (a missing value never does)."""
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class HardConstraints(_Model):
    """What every recommended item must satisfy; grounding enforces these in code.

    Attributes:
        attributes: Attribute -> accepted values (an item needs one of them per attribute).
        exclude_attributes: Attribute -> rejected values (an item may have none of them).
        numeric: Attribute -> inclusive range (e.g. ``year``).
        exclude_items: Item ids never to recommend (already seen, disliked, referenced).
        keywords: Free-text keywords the catalog search must match.
    """

    attributes: dict[str, list[str]] = Field(default_factory=dict)
    exclude_attributes: dict[str, list[str]] = Field(default_factory=dict)
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    exclude_items: list[ItemId] = Field(default_factory=list)
    keywords: str | None = None

    def is_empty(self) -> bool:
        """True when nothing is constrained."""
        return not (self.attributes or self.exclude_attributes or self.numeric or self.keywords)

    def merged(self, other: HardConstraints) -> HardConstraints:
        """Both sets of constraints at once (values of the same attribute are intersected)."""
        attributes = dict(self.attributes)
        for name, values in other.attributes.items():
            if name in attributes:
                kept = [v for v in attributes[name] if v.lower() in {o.lower() for o in values}]
                attributes[name] = kept or values
            else:
                attributes[name] = list(values)
        exclude = {k: list(v) for k, v in self.exclude_attributes.items()}
        for name, values in other.exclude_attributes.items():
            exclude[name] = sorted({*exclude.get(name, []), *values})
        numeric = dict(self.numeric)
        for name, rng in other.numeric.items():
            if name in numeric:
                old = numeric[name]
                lo = max((b for b in (old.min, rng.min) if b is not None), default=None)
                hi = min((b for b in (old.max, rng.max) if b is not None), default=None)
                numeric[name] = NumericRange(min=lo, max=hi)
            else:
                numeric[name] = rng
        keywords = " ".join(k for k in (self.keywords, other.keywords) if k) or None
        return HardConstraints(
            attributes=attributes,
            exclude_attributes=exclude,
            numeric=numeric,
            exclude_items=[
                *self.exclude_items,
                *[i for i in other.exclude_items if i not in self.exclude_items],
            ],
            keywords=keywords,
        )


class PlanStep(_Model):
    """One tool call in a plan: the tool's name and its arguments (validated by the dispatcher)."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


Intent = Literal["recommend", "details", "profile", "remember", "forget", "chitchat", "refuse"]


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


ReasonKind = Literal["constraint", "similar_to", "history", "model", "popularity", "text_match", "profile"]


class Reason(_Model):
    """One piece of evidence for a recommendation.

    Attributes:
        kind: The kind of evidence.
        text: A short human sentence.
        evidence: Machine-readable details (the constraint, the similar item id, the model name...).
    """

    kind: ReasonKind
    text: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class RecommendedItem(_Model):
    """An item in the agent's answer, grounded in the catalog."""

    item_id: ItemId
    title: str
    score: float
    reasons: list[Reason] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


TraceKind = Literal["plan", "tool_call", "answer", "fallback", "grounding", "error", "memory"]


class TraceStep(_Model):
    """One event of a turn, for inspection and debugging."""

    kind: TraceKind
    name: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True
    detail: str = ""
    ms: float = 0.0


class Usage(_Model):
    """LLM usage of a turn (zero for the offline brain)."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: int = 0

    def add(self, other: Usage) -> Usage:
        """The sum of two usages."""
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            failures=self.failures + other.failures,
        )


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
