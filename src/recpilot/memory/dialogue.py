"""The typed dialogue state of a conversational-recommendation session (stored by the memory layer).

One :class:`DialogueState` per session is shared by the ask-or-recommend policies, the critique
handling, the agent and the benchmarks. Attributes are written ``field=value`` (``genres=Horror``,
``tag=69``), items by their external id as text, so the same state serialises to JSON unchanged.
It lives here, below :mod:`recpilot.conversation`, because :class:`~recpilot.memory.ProfileMemory`
persists it; :mod:`recpilot.conversation.state` re-exports it under its usual name.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CritiqueKind = Literal["reject", "less", "more", "cheaper", "more_like", "other", "lower", "higher"]
ActionKind = Literal["ask", "recommend", "answer"]


class Critique(BaseModel):
    """A user's reaction to something the system showed.

    Attributes:
        kind: ``reject`` ("not this one"), ``less``/``more`` of an attribute ("less violent"),
            ``cheaper``, ``more_like`` an item ("more like the second one"), ``lower``/``higher`` on a
            numeric attribute ("older" is ``lower`` on ``year``, "shorter" ``lower`` on ``runtime``),
            or ``other`` ("something else").
        item_id: The item the critique is about, when it names one.
        attribute: The ``field=value`` attribute it moves, when it names one; for ``lower``/``higher``
            the numeric field (``year``).
        text: The user's words.
        turn: The turn it was made on.
    """

    model_config = ConfigDict(extra="forbid")

    kind: CritiqueKind
    item_id: str | None = None
    attribute: str | None = None
    text: str = ""
    turn: int = 0


class DialogueState(BaseModel):
    """Everything a conversational recommender knows about one session.

    Attributes:
        session_id: The dialogue session.
        user_id: Whose session it is.
        turn: Completed system turns.
        accepted_attributes: ``field=value`` attributes the user confirmed, oldest first.
        rejected_attributes: ``field=value`` attributes the user declined.
        accepted_items: Items the user accepted.
        rejected_items: Items the user rejected (never shown again this session).
        critiques: Critiques in the order they were made.
        asked: Attributes already asked about (a policy does not ask twice).
        shown: Item ids shown per recommendation turn, oldest first.
        candidates: The current candidate set, or None for the whole catalog.
        last_action: What the system did on its last turn.
        updated_at: Unix time of the last change.
        attribute_weights: The critiques' estimate of the user's taste per ``field=value`` attribute
            (negative after "less violent"), added to ranking scores.
        item_weights: Items the ranking is pulled towards (positive, "more like X") or pushed away
            from (negative, a rejected item): neighbours of the item move with it.
        numeric_bounds: Per numeric field, the inclusive ``[min, max]`` a critique asked for
            ("older" than what was shown); None for an open end.
        pending_question: The ``field=value`` attribute the system asked about last, waiting for a
            yes or no.
        focus_item: The item the conversation is about: the last one the user asked about, compared,
            marked or picked ("is it violent?" refers to it).
        seen_items: Items the user said they have already seen (left out of later lists).
        discussed: The items the last question was about (two after a comparison): "both of
            those" refers to them.
        requests: The user's messages that make up the current recommendation request, oldest first
            (a new request starts it again); None when not tracked (states stored before it existed).
        pending_call: A tool call a policy held for the user's confirmation (``{"tool", "args"}``); a
            "yes" on the next turn runs it, anything else drops it.
    """

    model_config = ConfigDict(extra="forbid")

    session_id: str
    user_id: str
    turn: int = 0
    accepted_attributes: list[str] = Field(default_factory=list)
    rejected_attributes: list[str] = Field(default_factory=list)
    accepted_items: list[str] = Field(default_factory=list)
    rejected_items: list[str] = Field(default_factory=list)
    critiques: list[Critique] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list)
    shown: list[list[str]] = Field(default_factory=list)
    candidates: list[str] | None = None
    last_action: ActionKind | None = None
    updated_at: float = Field(default_factory=time.time)
    attribute_weights: dict[str, float] = Field(default_factory=dict)
    item_weights: dict[str, float] = Field(default_factory=dict)
    numeric_bounds: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    pending_question: str | None = None
    focus_item: str | None = None
    seen_items: list[str] = Field(default_factory=list)
    discussed: list[str] = Field(default_factory=list)
    requests: list[str] | None = None
    pending_call: dict[str, Any] | None = None

    @property
    def last_shown(self) -> list[str]:
        """The items shown on the latest recommendation turn (empty before any)."""
        return list(self.shown[-1]) if self.shown else []

    def accept_attribute(self, attribute: str) -> None:
        """Record a confirmed attribute; a later "yes" overrides an earlier "no" (latest answer wins)."""
        _move(attribute, into=self.accepted_attributes, out_of=self.rejected_attributes)
        self._note_asked(attribute)

    def reject_attribute(self, attribute: str) -> None:
        """Record a declined attribute; a later "no" overrides an earlier "yes" (latest answer wins)."""
        _move(attribute, into=self.rejected_attributes, out_of=self.accepted_attributes)
        self._note_asked(attribute)

    def reject_item(self, item_id: str) -> None:
        """Record a rejected item (idempotent; a later rejection overrides an acceptance)."""
        _move(item_id, into=self.rejected_items, out_of=self.accepted_items)

    def accept_item(self, item_id: str) -> None:
        """Record an accepted item (idempotent; a later acceptance overrides a rejection)."""
        _move(item_id, into=self.accepted_items, out_of=self.rejected_items)

    def record_shown(self, item_ids: list[str]) -> None:
        """Record one recommendation turn's list."""
        self.shown.append(list(item_ids))
        self.last_action = "recommend"

    def _note_asked(self, attribute: str) -> None:
        if attribute not in self.asked:
            self.asked.append(attribute)


def _move(value: str, *, into: list[str], out_of: list[str]) -> None:
    if value in out_of:
        out_of.remove(value)
    if value not in into:
        into.append(value)
