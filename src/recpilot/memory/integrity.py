"""Memory integrity over turns: snapshots to roll a turn back, and the audit trail of memory writes.

(Bounded values, refused before anything is stored, are :mod:`recpilot.memory.values`.)

- :class:`MemorySnapshot` records a user's preferences and feed rules before a turn; the agent restores
  it when the turn is denied, degraded or fails, so such a turn leaves nothing behind, and the
  snapshot's :meth:`~MemorySnapshot.changes` become the turn's audit entries.
- :class:`~recpilot.memory.audit.AuditEntry` is one line of the audit log the user can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recpilot.memory.audit import AuditEntry
from recpilot.memory.base import Preference, ProfileMemory
from recpilot.memory.feed_rules import FeedRule

ChangeKind = Literal["added", "removed", "changed"]


@dataclass
class MemorySnapshot:
    """A user's preferences and feed rules at one moment, to diff against or restore.

    Attributes:
        user_id: Whose memory.
        preferences: Active preferences by id.
        rules: Feed rules (expired ones too) by id.
    """

    user_id: str
    preferences: dict[int, Preference] = field(default_factory=dict)
    rules: dict[int, FeedRule] = field(default_factory=dict)

    @classmethod
    def take(cls, memory: ProfileMemory, user_id: str) -> MemorySnapshot:
        """The user's memory now."""
        return cls(
            user_id,
            {p.id: p for p in memory.profile(user_id).preferences},
            {r.id: r for r in memory.feed_rules(user_id, include_expired=True)},
        )

    def changes(
        self, memory: ProfileMemory, *, provenance: str = "", session_id: str = ""
    ) -> list[AuditEntry]:
        """What was written since the snapshot, as audit entries."""
        now = MemorySnapshot.take(memory, self.user_id)
        entries: list[AuditEntry] = []

        def entry(action: ChangeKind, record: Literal["preference", "feed rule"], detail: str) -> None:
            entries.append(
                AuditEntry(
                    user_id=self.user_id,
                    action=action,
                    record=record,
                    detail=detail,
                    provenance=provenance,
                    session_id=session_id,
                )
            )

        for pid, pref in now.preferences.items():
            if pid not in self.preferences:
                entry("added", "preference", f"{pref.kind} {pref.value}")
        for pid, pref in self.preferences.items():
            if pid not in now.preferences:
                entry("removed", "preference", f"{pref.kind} {pref.value}")
        for rid, rule in now.rules.items():
            before = self.rules.get(rid)
            if before is None:
                entry("added", "feed rule", rule.describe())
            elif before != rule:
                entry("changed", "feed rule", rule.describe())
        for rid, rule in self.rules.items():
            if rid not in now.rules:
                entry("removed", "feed rule", rule.describe())
        return entries

    def restore(self, memory: ProfileMemory) -> int:
        """Undo every change since the snapshot; returns how many records were put back or removed.

        Removed records come back as new records with the same content (their ids change).
        """
        now = MemorySnapshot.take(memory, self.user_id)
        undone = 0
        for pid in now.preferences.keys() - self.preferences.keys():
            undone += int(memory.forget(self.user_id, pid))
        for pid in self.preferences.keys() - now.preferences.keys():
            memory.remember(self.user_id, self.preferences[pid].model_copy(update={"id": 0}))
            undone += 1
        for rid, rule in now.rules.items():
            before = self.rules.get(rid)
            if before != rule:
                undone += int(memory.remove_feed_rule(self.user_id, rid))
        for rid, rule in self.rules.items():
            if now.rules.get(rid) != rule:
                memory.add_feed_rule(self.user_id, rule.model_copy(update={"id": 0}))
                undone += 1
        return undone
