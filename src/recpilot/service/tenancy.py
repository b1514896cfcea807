"""Tenant isolation inside the shared memory: every user and session id is namespaced per tenant.

A tenant's user ``"42"`` is stored as ``"{tenant}:42"`` and its session ``"abc"`` as ``"{tenant}:abc"``
in the memory tables, so two tenants never read or overwrite each other's preferences, summaries,
dialogues or feed rules, while the agent and its tools keep seeing the plain ids.

Decision on the dataset's own users: the agent recognises a dataset user (ml-latest-small's ``"1"``,
``"2"``...) by the plain id it is given, so every tenant may use those ids and gets their recorded
history as a cold-start-free, read-only profile. That history is public catalog data; everything a
tenant *writes* about such a user (likes, summaries, sessions, rules) stays in the tenant's namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from recpilot.memory.audit import AUDIT_LIMIT, AuditEntry
from recpilot.memory.base import DialogueTurn, Preference, PreferenceKind, ProfileMemory, UserProfile
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import FeedRule


def tenant_key(tenant_id: str, name: str) -> str:
    """The namespaced id of a user or session."""
    return f"{tenant_id}:{name}"


class TenantMemory(ProfileMemory):
    """One tenant's view of a shared :class:`ProfileMemory`.

    Args:
        base: The shared memory (e.g. the SQL memory in the store's database).
        tenant_id: The tenant whose records this view reads and writes.
        on_change: Called with the plain user id after every write that changes the user's profile
            (preferences, summary) or feed rules, so caches of them can be invalidated.
        snapshot: Reads a user's ``(profile, active feed rules)`` through a cache that ``on_change``
            invalidates (the agent reads the profile many times a turn); None reads ``base`` each time.
    """

    def __init__(
        self,
        base: ProfileMemory,
        tenant_id: str,
        on_change: Callable[[str], None] | None = None,
        snapshot: Callable[[str], tuple[UserProfile, Sequence[FeedRule]]] | None = None,
    ) -> None:
        self.base = base
        self.tenant_id = tenant_id
        self.on_change = on_change
        self.snapshot = snapshot
        self._prefix = f"{tenant_id}:"

    def _changed(self, user_id: str) -> None:
        if self.on_change is not None:
            self.on_change(user_id)

    def _key(self, name: str) -> str:
        return self._prefix + name

    def profile(self, user_id: str) -> UserProfile:
        if self.snapshot is None:
            return self.stored_profile(user_id)
        return self.snapshot(user_id)[0].model_copy(deep=True)  # callers may change their copy

    def stored_profile(self, user_id: str) -> UserProfile:
        """The profile as stored, read without any cache."""
        stored = self.base.profile(self._key(user_id))
        return stored.model_copy(update={"user_id": user_id})

    def _remember(self, user_id: str, preference: Preference) -> Preference:
        stored = self.base.remember(self._key(user_id), preference)
        self._changed(user_id)
        return stored

    def forget(self, user_id: str, preference_id: int) -> bool:
        removed = self.base.forget(self._key(user_id), preference_id)
        self._changed(user_id)
        return removed

    def forget_matching(self, user_id: str, kind: PreferenceKind | None, value: str) -> int:
        removed = self.base.forget_matching(self._key(user_id), kind, value)
        self._changed(user_id)
        return removed

    def _set_summary(self, user_id: str, summary: str) -> None:
        self.base.set_summary(self._key(user_id), summary)
        self._changed(user_id)

    def _append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        self.base.append_turn(self._key(session_id), self._key(user_id), turn)

    def turns(self, session_id: str) -> list[DialogueTurn]:
        return self.base.turns(self._key(session_id))

    def _replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        self.base.replace_turns(self._key(session_id), self._key(user_id), turns)

    def forget_user(self, user_id: str) -> int:
        removed = self.base.forget_user(self._key(user_id))
        self._changed(user_id)
        return removed

    def sessions(self, user_id: str) -> list[str]:
        prefix = self._prefix
        return [s[len(prefix) :] for s in self.base.sessions(self._key(user_id)) if s.startswith(prefix)]

    def save_dialogue_state(self, state: DialogueState) -> None:
        scoped = {"session_id": self._key(state.session_id), "user_id": self._key(state.user_id)}
        self.base.save_dialogue_state(state.model_copy(update=scoped))

    def dialogue_state(self, session_id: str) -> DialogueState | None:
        stored = self.base.dialogue_state(self._key(session_id))
        if stored is None:
            return None
        return stored.model_copy(update={"session_id": session_id, "user_id": self._plain(stored.user_id)})

    def _add_feed_rule(self, user_id: str, rule: FeedRule) -> FeedRule:
        stored = self.base.add_feed_rule(self._key(user_id), rule)
        self._changed(user_id)
        return stored.model_copy(update={"user_id": user_id})

    def feed_rules(self, user_id: str, *, include_expired: bool = False) -> list[FeedRule]:
        if self.snapshot is not None and not include_expired:
            now = time.time()
            return [rule for rule in self.snapshot(user_id)[1] if rule.active(now)]
        return self.stored_feed_rules(user_id, include_expired=include_expired)

    def stored_feed_rules(self, user_id: str, *, include_expired: bool = False) -> list[FeedRule]:
        """The feed rules as stored, read without any cache."""
        rules = self.base.feed_rules(self._key(user_id), include_expired=include_expired)
        return [rule.model_copy(update={"user_id": user_id}) for rule in rules]

    def remove_feed_rule(self, user_id: str, rule_id: int) -> bool:
        removed = self.base.remove_feed_rule(self._key(user_id), rule_id)
        self._changed(user_id)
        return removed

    def record_audit(self, user_id: str, entries: list[AuditEntry]) -> None:
        self.base.record_audit(
            self._key(user_id), [e.model_copy(update={"user_id": user_id}) for e in entries]
        )

    def audit_log(self, user_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        return [
            e.model_copy(update={"user_id": user_id})
            for e in self.base.audit_log(self._key(user_id), limit=limit)
        ]

    def _plain(self, name: str) -> str:
        return name[len(self._prefix) :] if name.startswith(self._prefix) else name
