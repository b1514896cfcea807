"""What the SQL memory's modules share: the table metadata and how texts become storable and keyed."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from recpilot.store.migrate import MigrationHistory

metadata = sa.MetaData()
"""Every memory table (defined in ``sql.py`` and ``sql_conversation.py``)."""

MEMORY = MigrationHistory(name="memory", package="recpilot.memory.migrations", metadata=metadata)
"""The memory's migration history (tables: preferences, profiles, turns, dialogue states, feed rules,
audit log)."""


def value_key(value: str) -> str:
    """The unique key of a preference value: case-insensitive, a fixed 64 characters whatever its length."""
    return hashlib.sha256(value.lower().encode("utf-8")).hexdigest()


def lock_key(namespace: str, name: str) -> int:
    """A 64-bit advisory lock key for ``name`` (hash collisions only make two writers wait)."""
    digest = hashlib.sha256(f"recpilot.{namespace}\x1f{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_MS = 30_000
_WRITERS: weakref.WeakKeyDictionary[sa.pool.Pool, threading.RLock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def harden_sqlite(engine: sa.Engine) -> None:
    """Make a SQLite file database safe for many concurrent turns: WAL (readers never wait for the
    writer), a long busy timeout (writers of other processes wait instead of failing). No-op for other
    databases and for in-memory SQLite."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    if getattr(engine, "_recpilot_hardened", False):
        return

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    engine.pool.dispose()  # connections opened before the listener get the pragmas when reopened
    engine._recpilot_hardened = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction; on SQLite the process's writers take turns (one writer at a time), so a
    burst of concurrent turns queues instead of failing with "database is locked"."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _GUARD:
        lock = _WRITERS.setdefault(engine.pool, threading.RLock())
    with lock, engine.begin() as conn:
        yield conn
