"""The audit log of memory writes: what was stored or removed, when, and on whose word.

Every memory keeps the log per user (:meth:`recpilot.memory.ProfileMemory.audit_log`); the agent
appends the writes of each turn, with their provenance, and the rollbacks of refused turns.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: How many entries a listing shows by default, newest first.
AUDIT_LIMIT = 100


class AuditEntry(BaseModel):
    """One memory write, as the user can read it back.

    Attributes:
        at: Unix time of the write.
        user_id: Whose memory.
        action: added, removed or changed (a restated rule), or ``rolled back``.
        record: ``preference`` or ``feed rule``.
        detail: What was written, in words (``like_item 42``, ``#3 exclude genres=Horror``).
        provenance: Where it came from: ``user turn N``, ``inferred``, ``feedback``, ``tool``.
        session_id: The session of the turn, when a turn wrote it.
    """

    model_config = ConfigDict(extra="forbid")

    at: float = Field(default_factory=time.time)
    user_id: str
    action: Literal["added", "removed", "changed", "rolled back"]
    record: Literal["preference", "feed rule"]
    detail: str
    provenance: str = ""
    session_id: str = ""

    def describe(self) -> str:
        """One line for listings."""
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.at))
        source = f" ({self.provenance})" if self.provenance else ""
        return f"{stamp} {self.action} {self.record} {self.detail}{source}"
