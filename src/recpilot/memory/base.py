"""The memory contract and an in-memory implementation (a test double and the zero-setup default).

:class:`ProfileMemory` is the one interface tools and agents use; the SQL implementation in
:mod:`recpilot.memory.sql` persists the same records in the catalog's database.
"""

from __future__ import annotations

import itertools
import threading
import time
from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from recpilot.memory.audit import AUDIT_LIMIT, AuditEntry
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import FeedRule
from recpilot.memory.values import bounded_text, check_feed_rule, check_preference, storable

PreferenceKind = Literal["like_item", "dislike_item", "like_attribute", "dislike_attribute", "constraint"]


class Preference(BaseModel):
    """One remembered preference.

    Attributes:
        id: Stable id (assigned by the memory).
        kind: What is remembered.
        value: The item id (as text), ``attribute=value`` (e.g. ``genres=Horror``) or a constraint text.
        source: Where it came from (``user`` said it, ``inferred`` from behaviour, ``feedback``).
        created_at: Unix time.
        expires_at: Unix time after which it is ignored, if any.
    """

    model_config = ConfigDict(extra="forbid")

    id: int = 0
    kind: PreferenceKind
    value: str
    source: str = "user"
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None

    def active(self, now: float | None = None) -> bool:
        """Whether the preference has not expired."""
        return self.expires_at is None or self.expires_at > (now if now is not None else time.time())


class UserProfile(BaseModel):
    """A user's long-term profile as the agent sees it."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    preferences: list[Preference] = Field(default_factory=list)
    summary: str = ""

    def values(self, kind: PreferenceKind) -> list[str]:
        """Active preference values of one kind, oldest first."""
        return [p.value for p in self.preferences if p.kind == kind and p.active()]


class DialogueTurn(BaseModel):
    """One message of a session."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "summary"]
    content: str
    created_at: float = Field(default_factory=time.time)


class ProfileMemory(ABC):
    """Long-term profiles, feed rules, dialogue messages and the typed state of each dialogue.

    The public write methods are the same for every backend: they refuse what memory must not keep
    (:mod:`recpilot.memory.values`) and normalise what it keeps (NUL characters replaced, a rule's
    wording bounded) before handing it to the backend's hook (``_remember``, ``_add_feed_rule``,
    ``_set_summary``, ``_append_turn``, ``_replace_turns``). A backend implements the hooks and the
    read methods; it never repeats a check, so the in-memory, SQL and tenant memories store the same
    values for the same calls.
    """

    def remember(self, user_id: str, preference: Preference) -> Preference:
        """Store a preference (an identical active one, compared case-insensitively, is not duplicated)
        and return it with its id.

        Raises:
            MemoryValueError: The value is too long or reads as an instruction
                (:func:`recpilot.memory.values.check_preference`); nothing is stored.
        """
        check_preference(preference)
        update = {"value": storable(preference.value), "source": storable(preference.source)}
        return self._remember(user_id, preference.model_copy(update=update))

    @abstractmethod
    def _remember(self, user_id: str, preference: Preference) -> Preference:
        """Store a checked, normalised preference (see :meth:`remember`)."""

    @abstractmethod
    def profile(self, user_id: str) -> UserProfile:
        """The user's profile (empty for a new user)."""

    @abstractmethod
    def forget(self, user_id: str, preference_id: int) -> bool:
        """Delete one preference; False when there was none with that id."""

    def set_summary(self, user_id: str, summary: str) -> None:
        """Replace the natural-language profile summary."""
        self._set_summary(user_id, storable(summary))

    @abstractmethod
    def _set_summary(self, user_id: str, summary: str) -> None:
        """Store a normalised summary (see :meth:`set_summary`)."""

    def append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        """Append a message to a session."""
        self._append_turn(session_id, user_id, _storable_turn(turn))

    @abstractmethod
    def _append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        """Append a normalised message (see :meth:`append_turn`)."""

    @abstractmethod
    def turns(self, session_id: str) -> list[DialogueTurn]:
        """A session's messages, oldest first."""

    def replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        """Replace a session's messages (used to condense long dialogues)."""
        self._replace_turns(session_id, user_id, [_storable_turn(turn) for turn in turns])

    @abstractmethod
    def _replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        """Replace a session's messages with normalised ones (see :meth:`replace_turns`)."""

    @abstractmethod
    def forget_user(self, user_id: str) -> int:
        """Delete all of a user's memory (preferences, summary, sessions, dialogue states, feed rules);
        returns how many records."""

    @abstractmethod
    def sessions(self, user_id: str) -> list[str]:
        """The user's session ids."""

    @abstractmethod
    def save_dialogue_state(self, state: DialogueState) -> None:
        """Store a session's dialogue state, replacing the previous one (the latest write wins)."""

    @abstractmethod
    def dialogue_state(self, session_id: str) -> DialogueState | None:
        """A session's stored dialogue state, or None before the first save."""

    def add_feed_rule(self, user_id: str, rule: FeedRule) -> FeedRule:
        """Store a feed rule for ``user_id`` and return it with its id.

        An active rule with the same effect and target (compared case-insensitively) is not
        duplicated: it is kept (its id too), with the new rule's expiry (None: until removed), text
        and provenance, since the latest instruction wins.

        Raises:
            MemoryValueError: The target, wording or provenance is not storable
                (:func:`recpilot.memory.values.check_feed_rule`); nothing is stored.
        """
        check_feed_rule(rule)
        provenance = rule.provenance.model_copy(update={"session_id": storable(rule.provenance.session_id)})
        update = {"text": storable(bounded_text(rule.text)), "provenance": provenance}
        return self._add_feed_rule(user_id, rule.model_copy(update=update))

    @abstractmethod
    def _add_feed_rule(self, user_id: str, rule: FeedRule) -> FeedRule:
        """Store a checked feed rule with its wording bounded (see :meth:`add_feed_rule`)."""

    @abstractmethod
    def feed_rules(self, user_id: str, *, include_expired: bool = False) -> list[FeedRule]:
        """The user's feed rules, oldest first; expired ones only when asked (they are never deleted
        silently, so a listing can report them as expired)."""

    @abstractmethod
    def remove_feed_rule(self, user_id: str, rule_id: int) -> bool:
        """Delete one of the user's feed rules; False when the user has no rule with that id."""

    @abstractmethod
    def record_audit(self, user_id: str, entries: list[AuditEntry]) -> None:
        """Append entries to the user's audit log of memory writes."""

    @abstractmethod
    def audit_log(self, user_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        """The user's audit log, newest first (at most ``limit`` entries)."""

    def forget_matching(self, user_id: str, kind: PreferenceKind | None, value: str) -> int:
        """Delete active preferences whose value matches (case-insensitive); returns how many."""
        removed = 0
        wanted = storable(value).lower()
        for pref in self.profile(user_id).preferences:
            if (kind is None or pref.kind == kind) and pref.value.lower() == wanted:
                removed += self.forget(user_id, pref.id)
        return removed


def _storable_turn(turn: DialogueTurn) -> DialogueTurn:
    content = storable(turn.content)
    return turn if content == turn.content else turn.model_copy(update={"content": content})


class InMemoryProfileMemory(ProfileMemory):
    """Profiles and sessions in process memory (lost on exit)."""

    def __init__(self) -> None:
        self._prefs: dict[str, list[Preference]] = {}
        self._summaries: dict[str, str] = {}
        self._sessions: dict[str, list[DialogueTurn]] = {}
        self._owners: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._states: dict[str, str] = {}  # session -> JSON, so callers never share the stored object
        self._rules: dict[str, list[FeedRule]] = {}
        self._rule_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._audit: dict[str, list[AuditEntry]] = {}

    def profile(self, user_id: str) -> UserProfile:
        prefs = [p for p in self._prefs.get(user_id, []) if p.active()]
        return UserProfile(user_id=user_id, preferences=prefs, summary=self._summaries.get(user_id, ""))

    def _remember(self, user_id: str, preference: Preference) -> Preference:
        existing = self._prefs.setdefault(user_id, [])
        for pref in existing:
            if (
                pref.kind == preference.kind
                and pref.value.lower() == preference.value.lower()
                and pref.active()
            ):
                return pref
        stored = preference.model_copy(update={"id": next(self._ids)})
        existing.append(stored)
        return stored

    def forget(self, user_id: str, preference_id: int) -> bool:
        prefs = self._prefs.get(user_id, [])
        kept = [p for p in prefs if p.id != preference_id]
        self._prefs[user_id] = kept
        return len(kept) != len(prefs)

    def _set_summary(self, user_id: str, summary: str) -> None:
        self._summaries[user_id] = summary

    def _append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        self._owners[session_id] = user_id
        self._sessions.setdefault(session_id, []).append(turn)

    def turns(self, session_id: str) -> list[DialogueTurn]:
        return list(self._sessions.get(session_id, []))

    def _replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        self._owners[session_id] = user_id
        self._sessions[session_id] = list(turns)

    def forget_user(self, user_id: str) -> int:
        removed = len(self._prefs.pop(user_id, [])) + int(self._summaries.pop(user_id, None) is not None)
        for session in self.sessions(user_id):
            removed += len(self._sessions.pop(session, []))
            del self._owners[session]
        for session, text in list(self._states.items()):
            if DialogueState.model_validate_json(text).user_id == user_id:
                del self._states[session]
                removed += 1
        removed += len(self._audit.pop(user_id, []))
        return removed + len(self._rules.pop(user_id, []))

    def sessions(self, user_id: str) -> list[str]:
        return [session for session, owner in self._owners.items() if owner == user_id]

    def save_dialogue_state(self, state: DialogueState) -> None:
        self._states[state.session_id] = state.model_dump_json()

    def dialogue_state(self, session_id: str) -> DialogueState | None:
        text = self._states.get(session_id)
        return None if text is None else DialogueState.model_validate_json(text)

    def _add_feed_rule(self, user_id: str, rule: FeedRule) -> FeedRule:
        with self._lock:
            rules = self._rules.setdefault(user_id, [])
            for position, existing in enumerate(rules):
                if existing.active() and existing.same_instruction(rule):
                    merged = merge_feed_rule(existing, rule)
                    rules[position] = merged
                    return merged
            stored = rule.model_copy(update={"id": next(self._rule_ids), "user_id": user_id})
            rules.append(stored)
            return stored

    def feed_rules(self, user_id: str, *, include_expired: bool = False) -> list[FeedRule]:
        now = time.time()
        return [r for r in self._rules.get(user_id, []) if include_expired or r.active(now)]

    def remove_feed_rule(self, user_id: str, rule_id: int) -> bool:
        with self._lock:
            rules = self._rules.get(user_id, [])
            kept = [r for r in rules if r.id != rule_id]
            self._rules[user_id] = kept
            return len(kept) != len(rules)

    def record_audit(self, user_id: str, entries: list[AuditEntry]) -> None:
        with self._lock:
            self._audit.setdefault(user_id, []).extend(entries)

    def audit_log(self, user_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        return list(reversed(self._audit.get(user_id, [])))[:limit]


def merge_feed_rule(existing: FeedRule, new: FeedRule) -> FeedRule:
    """An active rule restated: the same id, the new wording, expiry and provenance (the latest
    instruction wins: "no horror today" after "no horror this week" ends the rule today)."""
    return existing.model_copy(
        update={"text": new.text or existing.text, "expires_at": new.expires_at, "provenance": new.provenance}
    )
