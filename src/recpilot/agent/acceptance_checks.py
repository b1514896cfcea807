"""Expectations for the acceptance set: checks on an :class:`~recpilot.agent.types.AgentResponse`.

Each check reads the catalog (never the reply's own claims) and returns why a response fails it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recpilot.agent.types import AgentResponse, ItemId
from recpilot.memory.base import PreferenceKind, ProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.tools.context import Catalog


@dataclass
class CheckContext:
    """What checks may consult besides the response: the catalog, the memory, earlier turns, and in a
    dialogue the session's state before and after the turn."""

    catalog: Catalog
    memory: ProfileMemory
    user_id: str
    earlier: list[AgentResponse] = field(default_factory=list)
    state_before: DialogueState | None = None
    state_after: DialogueState | None = None

    def last_list(self) -> list[ItemId]:
        """The items of the latest earlier turn that showed any (the list the user is looking at)."""
        for response in reversed(self.earlier):
            if response.items:
                return [i.item_id for i in response.items]
        return []

    def genres(self, item: ItemId) -> set[str]:
        """The item's genres, from the catalog."""
        return {str(g) for g in self.catalog.row(item).get("genres") or []}

    def year(self, item: ItemId) -> int | None:
        """The item's year, from the catalog."""
        value = self.catalog.row(item).get("year")
        return int(value) if value is not None else None

    def words(self, item: ItemId) -> str:
        """Title, genres and tags of the item in lower case."""
        row = self.catalog.row(item)
        return " ".join(
            [str(row.get("title", "")), *map(str, row.get("genres") or []), *map(str, row.get("tags") or [])]
        ).lower()

    def titled(self, title: str) -> set[str]:
        """Ids (as text) of items with exactly this display title."""
        frame = self.catalog.dataset.catalog
        return {str(i) for i in frame.loc[frame["title"] == title, "item_id"].tolist()}


class Check:
    """An expectation on a response; :meth:`evaluate` returns why it fails, or None."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        """None when the response meets the expectation, else the reason in words."""
        raise NotImplementedError


def _titles(items: Sequence[Any]) -> str:
    return "; ".join(item.title for item in items[:4])


@dataclass(frozen=True)
class MinItems(Check):
    """At least ``n`` items."""

    n: int

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        return (
            None
            if len(response.items) >= self.n
            else f"{len(response.items)} items, wanted at least {self.n}"
        )


@dataclass(frozen=True)
class ItemCount(Check):
    """Exactly ``n`` items."""

    n: int

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        return None if len(response.items) == self.n else f"{len(response.items)} items, wanted {self.n}"


@dataclass(frozen=True)
class NoItems(Check):
    """No recommendations (a details, profile, memory or refusal turn)."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        return (
            None
            if not response.items
            else f"{len(response.items)} unexpected items: {_titles(response.items)}"
        )


@dataclass(frozen=True, init=False)
class AllGenres(Check):
    """Every item has at least one of the genres."""

    genres: tuple[str, ...]

    def __init__(self, *genres: str) -> None:
        object.__setattr__(self, "genres", genres)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        bad = [i for i in response.items if not context.genres(i.item_id) & set(self.genres)]
        return f"not {'/'.join(self.genres)}: {_titles(bad)}" if bad else None


@dataclass(frozen=True, init=False)
class EveryGenre(Check):
    """Every item has all of the genres."""

    genres: tuple[str, ...]

    def __init__(self, *genres: str) -> None:
        object.__setattr__(self, "genres", genres)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        bad = [i for i in response.items if not set(self.genres) <= context.genres(i.item_id)]
        return f"not all of {'+'.join(self.genres)}: {_titles(bad)}" if bad else None


@dataclass(frozen=True, init=False)
class NoGenre(Check):
    """No item has any of the genres."""

    genres: tuple[str, ...]

    def __init__(self, *genres: str) -> None:
        object.__setattr__(self, "genres", genres)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        bad = [i for i in response.items if context.genres(i.item_id) & set(self.genres)]
        return f"has {'/'.join(self.genres)}: {_titles(bad)}" if bad else None


@dataclass(frozen=True)
class GenreShare(Check):
    """At least ``fraction`` of the items have one of the genres (and there is at least one item)."""

    genres: tuple[str, ...]
    fraction: float

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        if not response.items:
            return "no items"
        share = np.mean([bool(context.genres(i.item_id) & set(self.genres)) for i in response.items])
        return (
            None
            if share >= self.fraction
            else f"{share:.0%} have {'/'.join(self.genres)}, wanted {self.fraction:.0%}"
        )


@dataclass(frozen=True)
class TextShare(Check):
    """At least ``fraction`` of the items mention one of the words in title, genres or tags."""

    words: tuple[str, ...]
    fraction: float

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        if not response.items:
            return "no items"
        share = np.mean([any(w in context.words(i.item_id) for w in self.words) for i in response.items])
        return (
            None
            if share >= self.fraction
            else f"{share:.0%} mention {'/'.join(self.words)}, wanted {self.fraction:.0%}"
        )


@dataclass(frozen=True)
class YearRange(Check):
    """Every item's year lies in the inclusive range (either bound open)."""

    low: int | None
    high: int | None

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        def outside(year: int | None) -> bool:
            return (
                year is None
                or (self.low is not None and year < self.low)
                or (self.high is not None and year > self.high)
            )

        bad = [i for i in response.items if outside(context.year(i.item_id))]
        return f"outside {self.low}-{self.high}: {_titles(bad)}" if bad else None


@dataclass(frozen=True, init=False)
class NotReturned(Check):
    """None of these titles (exact catalog titles) is recommended."""

    titles: tuple[str, ...]

    def __init__(self, *titles: str) -> None:
        object.__setattr__(self, "titles", titles)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        banned = set().union(*(context.titled(t) for t in self.titles))
        bad = [i for i in response.items if str(i.item_id) in banned]
        return f"returned {_titles(bad)}" if bad else None


@dataclass(frozen=True)
class SeenExcluded(Check):
    """No item is one the (known) user has already rated."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        data = context.catalog.dataset
        try:
            user = data.users.index_of(int(context.user_id))
        except (ValueError, KeyError):
            return None
        seen = {str(i) for i in data.items.to_external(data.user_sequence(user)).tolist()}
        bad = [i for i in response.items if str(i.item_id) in seen]
        return f"already seen: {_titles(bad)}" if bad else None


@dataclass(frozen=True)
class RatingAbove(Check):
    """Every item's (Bayesian average) rating is above the catalog's ``quantile``."""

    quantile: float

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        catalog = context.catalog
        bar = float(np.quantile(catalog.rating_score, self.quantile))
        bad = [i for i in response.items if catalog.rating_score[catalog.index(i.item_id)] <= bar]
        return (
            f"rated at or below the {self.quantile:.0%} quantile ({bar:.2f}): {_titles(bad)}" if bad else None
        )


@dataclass(frozen=True)
class PopularityAbove(Check):
    """Every item is watched by more users than the catalog's ``quantile``."""

    quantile: float

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        catalog = context.catalog
        bar = float(np.quantile(catalog.popularity, self.quantile))
        bad = [i for i in response.items if catalog.popularity[catalog.index(i.item_id)] <= bar]
        return f"watched by {bar:.0f} users or fewer: {_titles(bad)}" if bad else None


@dataclass(frozen=True)
class FreshItems(Check):
    """No item was already shown earlier in the session."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        shown = {str(i.item_id) for earlier in context.earlier for i in earlier.items}
        bad = [i for i in response.items if str(i.item_id) in shown]
        return f"shown before: {_titles(bad)}" if bad else None


@dataclass(frozen=True, init=False)
class ReplyMentions(Check):
    """The reply contains one of the texts (case-insensitive)."""

    texts: tuple[str, ...]

    def __init__(self, *texts: str) -> None:
        object.__setattr__(self, "texts", texts)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        reply = response.reply.lower()
        return (
            None if any(t.lower() in reply for t in self.texts) else f"reply lacks {' / '.join(self.texts)!r}"
        )


@dataclass(frozen=True)
class ToolCalled(Check):
    """The tool ran successfully during the turn."""

    name: str

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        ok = any(s.kind == "tool_call" and s.name == self.name and s.ok for s in response.trace)
        return None if ok else f"{self.name} was not called"


@dataclass(frozen=True)
class NoToolErrors(Check):
    """No tool call failed (a reply without tool calls passes)."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        failed = [s for s in response.trace if s.kind == "tool_call" and not s.ok]
        return f"{failed[0].name} failed: {failed[0].detail}" if failed else None


@dataclass(frozen=True)
class NoWrites(Check):
    """The turn changed no memory."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        writes = [
            s.name
            for s in response.trace
            if s.kind == "tool_call" and s.name in ("remember_preference", "forget_preference")
        ]
        return f"memory written by {writes}" if writes else None


@dataclass(frozen=True)
class Remembered(Check):
    """After the turn the user's memory holds (or, with ``present=False``, lacks) the preference."""

    kind: PreferenceKind
    value: str
    present: bool = True

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        values = {v.lower() for v in context.memory.profile(context.user_id).values(self.kind)}
        if (self.value.lower() in values) == self.present:
            return None
        return f"{self.kind} {self.value} {'not ' if self.present else 'still '}remembered"
