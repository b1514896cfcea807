"""Persistent feed rules: a user's standing instructions about what to recommend ("no more horror").

The typed records live in the memory layer because :class:`~recpilot.memory.ProfileMemory` stores
them; parsing natural language into rules and applying them to rankings is
:mod:`recpilot.conversation.feed`, which re-exports these names.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from recpilot.memory.provenance import Provenance, utc_stamp

FeedEffect = Literal["exclude", "boost", "require"]
#: Title heuristics a rule can target (see :func:`recpilot.conversation.feed.is_sequel_title`).
TitlePattern = Literal["sequel"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeTarget(_Record):
    """Items whose ``attribute`` has ``value`` (case-insensitive; list attributes match any element)."""

    kind: Literal["attribute"] = "attribute"
    attribute: str
    value: str

    def describe(self) -> str:
        """The target as ``attribute=value``."""
        return f"{self.attribute}={self.value}"


class TitlePatternTarget(_Record):
    """Items whose title matches a named heuristic (``sequel``)."""

    kind: Literal["title_pattern"] = "title_pattern"
    pattern: TitlePattern

    def describe(self) -> str:
        """The target in words."""
        return f"titles that look like {self.pattern}s"


class NumericTarget(_Record):
    """Items whose numeric ``attribute`` lies in the inclusive range (an open end is None)."""

    kind: Literal["numeric"] = "numeric"
    attribute: str
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        """The range as ``attribute in [min, max]``."""
        low = "" if self.min is None else f"{self.min:g}"
        high = "" if self.max is None else f"{self.max:g}"
        return f"{self.attribute} in [{low}, {high}]"


FeedTarget = Annotated[AttributeTarget | TitlePatternTarget | NumericTarget, Field(discriminator="kind")]

#: The longest a timed rule lasts (100 years); a longer duration means "until removed".
MAX_RULE_SECONDS = 100 * 365.25 * 86_400.0


def same_target(a: FeedTarget, b: FeedTarget) -> bool:
    """Whether two targets name the same items (attribute values compare case-insensitively, as they
    match; the SQL memory keys rules the same way)."""
    return a.model_dump_json().lower() == b.model_dump_json().lower()


class FeedRule(_Record):
    """One standing instruction about a user's recommendations.

    Attributes:
        id: Stable id, assigned by the memory (0 before it is stored).
        user_id: Whose rule it is.
        effect: ``exclude`` items matching the target, ``boost`` them, or ``require`` it (drop the rest).
        target: What the rule is about: an attribute value, a title pattern or a numeric range.
        text: The user's words.
        created_at: Unix time it was made.
        expires_at: Unix time it stops applying; None until the user removes it.
        provenance: Whose words asked for it, through what, and when (the latest instruction's, when
            a restated rule was merged).
    """

    id: int = 0
    user_id: str
    effect: FeedEffect
    target: FeedTarget
    text: str = ""
    created_at: float = Field(default_factory=time.time, allow_inf_nan=False)
    expires_at: float | None = Field(default=None, allow_inf_nan=False)
    provenance: Provenance = Field(default_factory=Provenance)

    def active(self, now: float | None = None) -> bool:
        """Whether the rule still applies at ``now`` (default: the current time)."""
        return self.expires_at is None or self.expires_at > (time.time() if now is None else now)

    def same_instruction(self, other: FeedRule) -> bool:
        """Whether both rules say the same thing (effect and target, see :func:`same_target`), whatever
        their wording and expiry."""
        return self.effect == other.effect and same_target(self.target, other.target)

    def describe(self, now: float | None = None) -> str:
        """One line for listings: ``#3 exclude genres=Horror (until 2026-11-28 16:00 UTC)``."""
        if self.expires_at is None:
            until = "until you remove it"
        else:
            stamp = utc_stamp(self.expires_at)
            until = f"until {stamp}" if self.active(now) else f"expired {stamp}"
        return f"#{self.id} {self.effect} {self.target.describe()} ({until})"
