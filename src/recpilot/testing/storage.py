"""Databases for the memory conformance suites: a SQLite file, or a fresh PostgreSQL schema.

A :class:`Storage` is one test's database. Each :meth:`Storage.engine` call opens a new engine on the
same database, as a restarted process would, so a memory built on a second engine shows what
persisted. PostgreSQL storage needs the server of :data:`~recpilot.testing.backends.POSTGRES_ADMIN_URL`
and skips the test with a reason when it is unreachable, as the store and memory suites do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recpilot.store.backend import create_engine, normalise_url
from recpilot.testing.backends import postgres_admin_engine


@dataclass
class Storage:
    """One test's database.

    Attributes:
        backend: ``"sqlite"`` or ``"postgres"``.
        url: The database URL.
        schema: The PostgreSQL schema the memory's tables go to (None on SQLite).
    """

    backend: str
    url: sa.URL
    schema: str | None = None
    _engines: list[sa.Engine] = field(default_factory=list, repr=False)

    def engine(self) -> sa.Engine:
        """A new engine on the database (disposed when the test ends)."""
        if self.backend == "sqlite":
            engine = _sqlite_engine(Path(self.url.database or ""))
        else:
            engine = create_engine(self.url)
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        """Dispose every engine this storage opened."""
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()


@contextmanager
def storage(backend: str, tmp_path: Path) -> Iterator[Storage]:
    """A fresh database on ``backend`` for one test, removed (PostgreSQL: its schema dropped) after it.

    Raises:
        pytest.skip.Exception: PostgreSQL is unreachable (the test is skipped with the reason).
    """
    if backend == "sqlite":
        found = Storage("sqlite", normalise_url(tmp_path / "memory.db"))
        try:
            yield found
        finally:
            found.close()
        return
    admin_engines = postgres_admin_engine()
    admin = next(admin_engines)  # skips the test when the server is unreachable
    schema = f"recpilot_memory_{uuid.uuid4().hex[:12]}"
    found = Storage("postgres", admin.url, schema)
    try:
        yield found
    finally:
        found.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        next(admin_engines, None)  # the generator disposes its engine when resumed


def _sqlite_engine(path: Path) -> sa.Engine:
    """A store-style SQLite engine without fsync: commits stay atomic and locked, only not durable
    across a power cut, which no test checks (and many times faster on a virtual disk)."""
    engine = create_engine(normalise_url(path))

    @sa.event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    return engine


__all__ = ["Storage", "storage"]
