"""The typed result of the offline parser: what one message asks for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from recpilot.memory.base import PreferenceKind
from recpilot.types import HardConstraints, Intent, ItemId

RankingChoice = Literal["collaborative", "sequential", "content", "popularity", "top_rated"]
Refinement = Literal["new", "adjust", "switch", "more"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemReference(_Model):
    """An item the user named, resolved against the catalog (``item_id`` None when not found)."""

    text: str
    item_id: ItemId | None = None
    title: str | None = None
    year: int | None = None


class AttributeChoice(_Model):
    """Values of one attribute, of which an item needs at least one."""

    attribute: str
    values: list[str]


class PreferenceNote(_Model):
    """A preference to remember or forget: its kind, stored value and a label for replies."""

    kind: PreferenceKind
    value: str
    label: str


class ParsedRequest(_Model):
    """What the offline parser understood of one message.

    Attributes:
        intent: recommend, details, profile, remember, forget, chitchat or refuse.
        constraints: Hard constraints (genres wanted and excluded, year range, items excluded).
        also_required: Further value groups an item must match as well ("romantic comedy" needs
            Romance *and* Comedy; the constraints hold one group per attribute).
        liked: Items to find similar ones to ("like Toy Story", "I liked Heat").
        disliked: Items the user rejected ("but not Twilight", "I hated Titanic").
        subjects: Items a details, forget or remember request is about.
        unresolved: Titles the user named that the catalog does not have.
        remember: Preferences the user stated about themselves ("I hate musicals").
        forget: Preferences to forget.
        forget_all: Forget every remembered preference.
        ranking: How to rank: top_rated, popularity, sequential; None for the default (personal taste).
        count: How many items the user asked for.
        topics: Catalog topics and moods mentioned ("time travel", "uplifting").
        description: Text for similarity search: topic words plus the leftover words.
        leftover: Content words no pass understood.
        period: How the user stated the period ("older than Heat (1995)"), for replies.
        refusal: Why the request is refused.
        warnings: Parts understood but not applied ("I can't exclude one decade").
        refinement: How the message relates to the previous request: ``new``, ``adjust`` ("and no
            horror"), ``switch`` ("what about westerns?") or ``more`` ("show me more").
    """

    intent: Intent = "recommend"
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    also_required: list[AttributeChoice] = Field(default_factory=list)
    liked: list[ItemReference] = Field(default_factory=list)
    disliked: list[ItemReference] = Field(default_factory=list)
    subjects: list[ItemReference] = Field(default_factory=list)
    unresolved: list[str] = Field(default_factory=list)
    remember: list[PreferenceNote] = Field(default_factory=list)
    forget: list[PreferenceNote] = Field(default_factory=list)
    forget_all: bool = False
    ranking: RankingChoice | None = None
    count: int | None = None
    topics: list[str] = Field(default_factory=list)
    description: str = ""
    leftover: str = ""
    period: str | None = None
    refusal: str | None = None
    warnings: list[str] = Field(default_factory=list)
    refinement: Refinement = "new"

    def understood(self) -> bool:
        """Whether anything beyond the bare intent was understood."""
        c = self.constraints
        return bool(
            c.attributes
            or c.exclude_attributes
            or c.numeric
            or self.liked
            or self.disliked
            or self.topics
            or self.ranking
            or self.unresolved
            or self.leftover
            or self.remember
        )

    def required_groups(self) -> list[AttributeChoice]:
        """Every value group an item must match: the constraints' groups, then :attr:`also_required`."""
        groups = [
            AttributeChoice(attribute=k, values=list(v)) for k, v in self.constraints.attributes.items()
        ]
        return [*groups, *self.also_required]
