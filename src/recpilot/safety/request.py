"""What the user's own message asked for, as code judged it: the facts a policy's turn conditions read.

The agent fills a :class:`UserRequest` from the user's text alone (never from catalog text, tool
results, stored memory or an LLM's say-so) and puts it on the turn's tool context; the dispatcher hands
it to the policy with every call. A library caller that builds no request gets the empty one: nothing
was asked, so no write tool runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

WriteKind = Literal["remember", "forget", "feed_add", "feed_remove", "critique"]

#: The write each writing tool performs; a write tool not listed here is never "requested".
TOOL_WRITES: dict[str, WriteKind] = {
    "remember_preference": "remember",
    "forget_preference": "forget",
    "add_feed_rule": "feed_add",
    "remove_feed_rule": "feed_remove",
    "critique_shown": "critique",
    "forget_everything": "forget",
}


@dataclass(frozen=True)
class UserRequest:
    """The user's message and the writes it asks for.

    Attributes:
        text: The user's message of this turn.
        writes: The kinds of memory writes the message asks for (judged by code from ``text``).
        mentions: Values the parsers found in the message, case-folded: item ids the user named
            ("I liked Heat" -> ``"6"``) and the values of stated preferences (``"genres=horror"``).
        stated: Argument values the user's words fix for this turn's writes, by argument name: the
            preference kinds (``kind``), the rule effects (``effect``) and the longest rule duration in
            days (``days``, ``"inf"`` for "until removed"). A write whose argument is not among them is
            not what the user asked for.
        confirmed: Tools the user confirmed in this session after being asked (temporal rules).
        turn: The turn number in the session (1 for the first message), for provenance.
    """

    text: str = ""
    writes: frozenset[WriteKind] = field(default_factory=frozenset)
    mentions: frozenset[str] = field(default_factory=frozenset)
    stated: Mapping[str, frozenset[str]] = field(default_factory=dict)
    confirmed: frozenset[str] = field(default_factory=frozenset)
    turn: int = 0

    def asks_for(self, tool_name: str) -> bool:
        """Whether the message asks for the write ``tool_name`` performs."""
        kind = TOOL_WRITES.get(tool_name)
        return kind is not None and kind in self.writes

    @property
    def provenance(self) -> str:
        """How writes made for this request are labelled in memory: ``user turn N``."""
        return f"user turn {self.turn}" if self.turn else "user"


#: What each writing tool would have done, for the sentence that tells the user it was refused.
WRITE_WORDS: dict[str, str] = {
    "remember_preference": "save a preference",
    "forget_preference": "delete a saved preference",
    "add_feed_rule": "add a feed rule",
    "remove_feed_rule": "remove a feed rule",
    "critique_shown": "record a critique",
    "forget_everything": "delete everything I remember about you",
}


class _Refusal(Protocol):
    name: str
    detail: str


def refusal_sentence(refusals: Sequence[_Refusal], undone: int) -> str:
    """The plain sentence that tells the user what was refused and why (``refusals`` are the turn's
    policy trace steps, ``undone`` how many memory records the rollback restored)."""
    parts: list[str] = []
    for step in refusals:
        what = WRITE_WORDS.get(step.name, f"use {step.name}")
        reason = step.detail.split("refused: ", 1)[-1]
        sentence = (
            f"I did not {what} yet: {reason}." if "confirm" in reason else f"I did not {what}: {reason}."
        )
        if sentence not in parts:
            parts.append(sentence)
    if undone:
        parts.append("Nothing from this turn was saved to your memory.")
    return " ".join(parts)
