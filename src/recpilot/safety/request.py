"""What the user's own message asked for, as code judged it: the facts a policy's turn conditions read.

The agent fills a :class:`UserRequest` from the user's text alone (never from catalog text, tool
results, stored memory or an LLM's say-so) and puts it on the turn's tool context; the dispatcher hands
it to the policy with every call. A library caller that builds no request gets the empty one: nothing
was asked, so no write tool runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from recpilot.memory.provenance import Provenance, ProvenanceSource, ProvenanceVia

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


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: How far a duration may be from the one the user said (an hour, or 1% of it).
_DURATION_SLACK_DAYS = 1 / 24


def canonical(value: Any) -> str:
    """A call argument as the policy compares it: numbers as floats, text case-folded with single
    spaces, ``true``/``false`` for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return " ".join(str(value).split()).casefold()


def is_left_out(value: Any) -> bool:
    """Whether an argument is left out of a call (None, False or empty); 0 is a value."""
    return value is None or value is False or (isinstance(value, str | list | dict | tuple) and not value)


def said_in(value: Any, text: str) -> bool:
    """Whether every word of ``value`` (after an ``attribute=`` prefix) is a word of ``text``."""
    if value is None:
        return True
    words = set(_WORD.findall(text.casefold()))
    return all(w in words for w in _WORD.findall(str(value).rpartition("=")[2].casefold()))


@dataclass(frozen=True)
class RequestedWrite:
    """One write the user's own message asks for, as concrete as code could resolve it.

    A call is this write when it is the same tool and every argument it gives is accounted for:

    Attributes:
        tool: The write tool.
        values: Arguments with the values that do this write (:func:`canonical` forms: an item's id
            and its title forms, a rule's effect and target); the call must give one of them.
        durations: Arguments holding a number of days the user said (``math.inf``: until removed); the
            call's number must be within an hour (or 1%) of it, a left-out value meaning until removed.
        said: Arguments whose text must be the user's own words (a rule's wording, a free-text
            constraint); left out is fine.
        Any other argument must be left out (None, False or empty).
    """

    tool: str
    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    said: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        tool: str,
        values: Mapping[str, Iterable[Any]] | None = None,
        *,
        durations: Mapping[str, float] | None = None,
        said: Iterable[str] = (),
    ) -> RequestedWrite:
        """A write from raw argument values (canonicalised here); left-out values (None, empty) are
        dropped, and an argument with none left must be left out of the call."""
        forms = {
            arg: frozenset(canonical(v) for v in given if not is_left_out(v))
            for arg, given in (values or {}).items()
        }
        return cls(tool, {a: f for a, f in forms.items() if f}, dict(durations or {}), frozenset(said))

    @classmethod
    def exactly(cls, tool: str, args: Mapping[str, Any]) -> RequestedWrite:
        """The write a given call makes, argument for argument (a call the user confirmed)."""
        return cls.of(tool, {a: [v] for a, v in args.items() if not is_left_out(v)})

    def matches(self, tool: str, args: Mapping[str, Any], text: str) -> bool:
        """Whether the call ``tool(**args)`` is this write (``text``: the user's message)."""
        if tool != self.tool:
            return False
        for arg, allowed in self.values.items():
            if is_left_out(args.get(arg)) or canonical(args.get(arg)) not in allowed:
                return False
        for arg, days in self.durations.items():
            value = args.get(arg)
            number = math.inf if value is None else value
            if isinstance(number, bool) or not isinstance(number, int | float):
                return False
            if math.isinf(days) or math.isinf(number):
                if number != days:
                    return False
            elif abs(number - days) > max(_DURATION_SLACK_DAYS, 0.01 * days):
                return False
        for arg, value in args.items():
            if arg in self.values or arg in self.durations:
                continue
            if arg in self.said:
                if not said_in(value, text):
                    return False
            elif not is_left_out(value):
                return False
        return True


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
        allowed: The concrete writes the message asks for (tool and resolved arguments); the default
            policy runs a write call only when it is one of them (:meth:`allows`).
        turn: The turn number in the session (1 for the first message), for provenance.
        session_id: The session of the message, for provenance.
        source: Whose message it is (``user``, ``simulated_user``; ``library`` when code built the
            request without a message), for provenance.
        via: What turns the message into tool calls this turn (the offline parser, an LLM's plan,
            a confirmation), for provenance.
    """

    text: str = ""
    writes: frozenset[WriteKind] = field(default_factory=frozenset)
    mentions: frozenset[str] = field(default_factory=frozenset)
    stated: Mapping[str, frozenset[str]] = field(default_factory=dict)
    confirmed: frozenset[str] = field(default_factory=frozenset)
    allowed: tuple[RequestedWrite, ...] = ()
    turn: int = 0
    session_id: str = ""
    source: ProvenanceSource = "library"
    via: ProvenanceVia = "direct"

    def asks_for(self, tool_name: str) -> bool:
        """Whether the message asks for the write ``tool_name`` performs."""
        kind = TOOL_WRITES.get(tool_name)
        return kind is not None and kind in self.writes

    def allows(self, tool_name: str, args: Mapping[str, Any]) -> bool:
        """Whether the call is, argument for argument, one of the writes the message asks for."""
        return any(write.matches(tool_name, args, self.text) for write in self.allowed)

    @property
    def provenance(self) -> str:
        """How writes made for this request are labelled in memory: ``user turn N`` (``mcp client``
        for a client's call through MCP)."""
        if self.source == "client":
            return f"{self.via} client"
        return f"user turn {self.turn}" if self.turn else "user"

    def write_provenance(self) -> Provenance:
        """The provenance a record written for this request keeps (now, this turn, this session)."""
        return Provenance(
            source=self.source, via=self.via, turn=self.turn or None, session_id=self.session_id
        )


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
