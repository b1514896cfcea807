"""Where a stored record came from: whose words asked for it, what turned them into a write, and when.

A feed rule keeps its :class:`Provenance` beside it in every memory (the audit log has the same story
as a line of text), so a listing can say "from your message in turn 3" and a rule that the user never
asked for stands out. Rules stored before provenance was kept read back as :meth:`Provenance.legacy`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Whose instruction it was: the user's own message, a simulated user's message, a client's call of
#: a write tool (an MCP client acting for the user it names; no words of the user are read), code
#: calling the memory directly (a library caller, a test), or not known (stored before provenance was kept).
ProvenanceSource = Literal["user", "simulated_user", "client", "library", "unknown"]
#: Who wrote a chat message: the user, or a simulated user standing in for one.
MessageSource = Literal["user", "simulated_user"]
#: What turned the words into the write: the offline brain's parser, an LLM's plan that the tool
#: policy allowed, the user's "yes" to a call the policy held for confirmation, a tool call through
#: the MCP server, or a direct call.
ProvenanceVia = Literal["offline_parser", "llm_plan", "confirmation", "mcp", "direct", "unknown"]

#: The largest turn number kept (a 32-bit column on every database).
MAX_TURN = 2**31 - 1

_SOURCE_WORDS: dict[str, str] = {
    "user": "your message",
    "simulated_user": "a simulated user's message",
    "client": "a client's tool call",
    "library": "a direct call of the memory",
}
_VIA_WORDS: dict[str, str] = {
    "offline_parser": "read by the offline parser",
    "llm_plan": "planned by the LLM and allowed by the tool policy",
    "confirmation": "confirmed after the tool policy asked",
    "mcp": "through the MCP server",
}


class Provenance(BaseModel):
    """Whose words asked for a stored record, and when.

    Attributes:
        source: Whose instruction it was (see :data:`ProvenanceSource`).
        via: What made the write from it (see :data:`ProvenanceVia`).
        turn: The number of the user's message in its session (1 for the first), when a turn asked.
        session_id: The dialogue session of that message ("" when none).
        at: Unix time of the instruction; None when not known.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: ProvenanceSource = "library"
    via: ProvenanceVia = "direct"
    turn: int | None = Field(default=None, ge=1, le=MAX_TURN)
    session_id: str = ""
    at: float | None = Field(default_factory=time.time, allow_inf_nan=False)

    @classmethod
    def legacy(cls) -> Provenance:
        """The provenance of a record stored before provenance was kept: not known."""
        return cls(source="unknown", via="unknown", at=None)

    def describe(self) -> str:
        """One phrase for listings: ``your message (turn 3 of session s1), read by the offline parser,
        2026-12-05 18:40 UTC``; ``unknown (before provenance)`` for a legacy record."""
        if self.source == "unknown":
            return "unknown (before provenance)"
        words = _SOURCE_WORDS[self.source]
        where = [f"turn {self.turn}"] if self.turn is not None else []
        if self.session_id:
            where.append(f"session {self.session_id}")
        if where:
            words += f" ({' of '.join(where)})"
        if self.via in _VIA_WORDS:
            words += f", {_VIA_WORDS[self.via]}"
        if self.at is not None:
            words += f", {utc_stamp(self.at)}"
        return words


def utc_stamp(seconds: float) -> str:
    """Unix time as ``2026-12-05 18:40 UTC`` (words instead for a time past what a calendar shows)."""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError, OSError):  # beyond the calendar datetime can show
        return "a date too far to show"
