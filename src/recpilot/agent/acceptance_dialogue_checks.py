"""Checks of a turn inside a dialogue: about the list shown before it and the dialogue state.

Positions are 1-based in the list the user was looking at (the latest earlier turn that showed
items); ``-1`` is its last item. Titles are matched in the reply by their main form ("Heat",
"The Matrix"), as a person would look for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from recpilot.agent.acceptance_checks import Check, CheckContext, _titles
from recpilot.agent.types import AgentResponse, ItemId
from recpilot.memory.dialogue import DialogueState
from recpilot.understanding.vocabulary import title_forms

_VOLATILE = {"updated_at"}


def _at(context: CheckContext, position: int) -> ItemId | None:
    shown = context.last_list()
    index = position - 1 if position > 0 else len(shown) + position
    return shown[index] if 0 <= index < len(shown) else None


def _main_title(context: CheckContext, item: ItemId) -> str:
    return title_forms(context.catalog.title(item))[0]


@dataclass(frozen=True, init=False)
class MentionsShown(Check):
    """The reply names the items at these positions of the list shown before."""

    positions: tuple[int, ...]

    def __init__(self, *positions: int) -> None:
        object.__setattr__(self, "positions", positions)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        for position in self.positions:
            item = _at(context, position)
            if item is None:
                return f"no item at position {position} was shown"
            if _main_title(context, item).lower() not in response.reply.lower():
                return f"reply does not name {context.catalog.title(item)} (position {position})"
        return None


@dataclass(frozen=True, init=False)
class Omits(Check):
    """None of the items at these positions of the list shown before is in the answer."""

    positions: tuple[int, ...]

    def __init__(self, *positions: int) -> None:
        object.__setattr__(self, "positions", positions)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        banned = {str(_at(context, p)) for p in self.positions}
        bad = [i for i in response.items if str(i.item_id) in banned]
        return f"still shows {_titles(bad)}" if bad else None


@dataclass(frozen=True, init=False)
class Keeps(Check):
    """The items at these positions of the list shown before are in the answer again."""

    positions: tuple[int, ...]

    def __init__(self, *positions: int) -> None:
        object.__setattr__(self, "positions", positions)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        kept = {str(i.item_id) for i in response.items}
        lost = [p for p in self.positions if str(_at(context, p)) not in kept]
        return f"dropped the items at positions {lost}" if lost else None


@dataclass(frozen=True, init=False)
class AvoidsGenres(Check):
    """At most ``share`` of the items have any of the genres ("less grim": not mostly dark genres)."""

    genres: tuple[str, ...]
    share: float

    def __init__(self, share: float, *genres: str) -> None:
        object.__setattr__(self, "share", share)
        object.__setattr__(self, "genres", genres)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        if not response.items:
            return "no items"
        hits = [i for i in response.items if context.genres(i.item_id) & set(self.genres)]
        share = len(hits) / len(response.items)
        return f"{share:.0%} are {'/'.join(self.genres)}: {_titles(hits)}" if share > self.share else None


@dataclass(frozen=True, init=False)
class ReplyLacks(Check):
    """The reply contains none of the texts (case-insensitive)."""

    texts: tuple[str, ...]

    def __init__(self, *texts: str) -> None:
        object.__setattr__(self, "texts", texts)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        found = [t for t in self.texts if t.lower() in response.reply.lower()]
        return f"reply contains {found}" if found else None


@dataclass(frozen=True)
class StateUnchanged(Check):
    """The turn left the dialogue state exactly as it was (a bad reference, an unreadable message)."""

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        before, after = _dump(context.state_before), _dump(context.state_after)
        if before == after:
            return None
        changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        return f"state changed: {changed}"


@dataclass(frozen=True)
class FocusOn(Check):
    """After the turn the conversation is about the item at ``position`` of the list shown before."""

    position: int

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        item = _at(context, self.position)
        focus = context.state_after.focus_item if context.state_after is not None else None
        return None if focus == str(item) else f"focus is {focus}, wanted {item}"


@dataclass(frozen=True, init=False)
class MarkedSeen(Check):
    """After the turn the state records the items at these positions as seen (or, with ``liked``
    / ``disliked``, as accepted / rejected)."""

    positions: tuple[int, ...]
    how: str

    def __init__(self, *positions: int, how: str = "seen") -> None:
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "how", how)

    def evaluate(self, response: AgentResponse, context: CheckContext) -> str | None:
        state = context.state_after
        if state is None:
            return "no dialogue state"
        recorded = {
            "seen": state.seen_items,
            "liked": state.accepted_items,
            "disliked": state.rejected_items,
        }[self.how]
        missing = [p for p in self.positions if str(_at(context, p)) not in recorded]
        return f"positions {missing} not recorded as {self.how}" if missing else None


def _dump(state: DialogueState | None) -> dict[str, object]:
    return {} if state is None else state.model_dump(exclude=_VOLATILE)
