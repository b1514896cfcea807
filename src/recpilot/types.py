"""The currency types that cross layer boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

ItemId = int | str


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One entry of an :class:`ItemList`."""

    item_id: object
    score: float
    rank: int


@dataclass(frozen=True)
class ItemList:
    """A ranked list of items: external ids with their scores, best first.

    This is the one type every recommender returns and every later layer (tools, agent, conversation,
    simulation, API) consumes. Ranks are implied by position (1-based).

    Attributes:
        item_ids: External item ids, best first.
        scores: Model scores aligned with ``item_ids`` (higher is better).
        model: Name of the model that produced the list, for explanations and traces.
        reasons: The evidence for each item, aligned with ``item_ids`` (empty when not explained).
    """

    item_ids: npt.NDArray[np.generic]
    scores: npt.NDArray[np.float32]
    model: str = ""
    reasons: tuple[tuple[Reason, ...], ...] = ()

    def __post_init__(self) -> None:
        if len(self.item_ids) != len(self.scores):
            raise ValueError(
                f"ItemList: {len(self.item_ids)} item ids but {len(self.scores)} scores; they must align"
            )
        if self.reasons and len(self.reasons) != len(self.item_ids):
            raise ValueError(
                f"ItemList: {len(self.item_ids)} item ids but {len(self.reasons)} reason lists; "
                "they must align"
            )

    def __len__(self) -> int:
        return len(self.item_ids)

    def __iter__(self) -> Iterator[ScoredItem]:
        for rank, (item, score) in enumerate(zip(self.item_ids.tolist(), self.scores.tolist(), strict=True)):
            yield ScoredItem(item_id=item, score=float(score), rank=rank + 1)

    def ids(self) -> list[object]:
        """The item ids as plain Python objects, best first."""
        return list(self.item_ids.tolist())

    def to_records(self) -> list[dict[str, object]]:
        """JSON-ready records ``{"item_id", "score", "rank"}``."""
        return [{"item_id": s.item_id, "score": s.score, "rank": s.rank} for s in self]

    @classmethod
    def empty(cls, model: str = "") -> ItemList:
        """An empty list."""
        return cls(np.array([], dtype=np.int64), np.array([], dtype=np.float32), model)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: What a message asks for: the parser reads it, a brain's plan carries it.
Intent = Literal[
    "recommend", "details", "profile", "remember", "forget", "chitchat", "refuse", "ask", "critique", "feed"
]


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


class Usage(_Model):
    """LLM usage of a turn (zero for the offline brain).

    Attributes:
        llm_calls: Model requests sent (retries and step-downs included).
        input_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
        failures: Calls that gave no usable answer (errors, timeouts, rejected answers).
        step_downs: Requests whose output mode the server rejected, re-sent in a weaker mode (not failures).
    """

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: int = 0
    step_downs: int = 0

    def add(self, other: Usage) -> Usage:
        """The sum of two usages."""
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            failures=self.failures + other.failures,
            step_downs=self.step_downs + other.step_downs,
        )
