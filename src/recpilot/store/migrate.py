"""Schema migrations (alembic) of recpilot's tables, run whenever a store, a memory or the service opens.

Three histories, one per table group, each in a ``migrations`` package beside its tables: the catalog
(:mod:`recpilot.store.migrations`), the profile memory (:mod:`recpilot.memory.migrations`) and the
service's tables (:mod:`recpilot.service.migrations`). The groups are opened independently (a memory
needs no catalog, a memory may live in its own PostgreSQL schema), so each has its own history and
its own version table (``alembic_version_catalog``, ``alembic_version_memory``,
``alembic_version_service``); one database may hold all three, each group upgraded by its owner.

Opening runs ``upgrade head``. A database created before migrations existed (``create_all``, no version
table) is adopted by the baseline revision, which creates only the tables it lacks and keeps every row;
later revisions then run as on any database. Writers of a new database take turns: PostgreSQL holds a
transaction-scoped advisory lock, a SQLite file a lock file beside it (``<file>.migrate.lock``).

A change of the tables is a new revision in the group's ``versions`` folder (``revision``,
``down_revision``, ``upgrade()``; use ``op.batch_alter_table`` for SQLite); ``tests/store/
test_migrations.py`` compares every history's head with its SQLAlchemy metadata and prints the
operations a missing revision needs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock

from recpilot.errors import ConfigError

logger = logging.getLogger(__name__)

#: How long a process waits for another one migrating the same SQLite file.
LOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class MigrationHistory:
    """One table group's migration history.

    Attributes:
        name: The group (``"catalog"``, ``"memory"``, ``"service"``); names the version table.
        package: Dotted name of the package holding ``env.py`` and ``versions/``.
        metadata: The group's tables as the code uses them (what head must equal).
        backend_objects: Tables, columns and indexes a revision creates with backend-specific DDL
            outside the metadata (full-text tables and generated columns); schema comparison skips them.
    """

    name: str
    package: str
    metadata: sa.MetaData = field(compare=False)
    backend_objects: frozenset[str] = frozenset()

    @property
    def version_table(self) -> str:
        """The table recording the group's revision."""
        return f"alembic_version_{self.name}"

    @property
    def tables(self) -> frozenset[str]:
        """The names of the group's tables."""
        return frozenset(self.metadata.tables)


def head(history: MigrationHistory) -> str:
    """The newest revision of ``history``."""
    found = _script(history).get_current_head()
    if found is None:
        raise RuntimeError(f"migration history {history.name!r} has no revision")
    return found


def current_revision(
    engine: sa.Engine, history: MigrationHistory, *, schema: str | None = None
) -> str | None:
    """The revision the database is at (None: no version table, or an empty one)."""
    with engine.connect() as conn:
        return _current(conn, history, schema)


def upgrade(
    engine: sa.Engine, history: MigrationHistory, *, schema: str | None = None, revision: str = "head"
) -> None:
    """Bring the group's tables to head (creating them in an empty database, adopting old ones).

    Args:
        engine: The database; an engine with a ``schema_translate_map`` (the memory's) creates the
            tables where the map sends them.
        history: The group to upgrade.
        schema: The schema holding the group's tables and version table (None: the default one).
        revision: Where to stop (default head); tests build a database as an older recpilot left it.

    Raises:
        ConfigError: The database is at a revision this recpilot does not know (a newer one wrote it).
        sqlalchemy.exc.DBAPIError: The database refused a statement (callers add where and why).
    """
    target = head(history) if revision == "head" else revision
    if current_revision(engine, history, schema=schema) == target:
        return  # the common case: no lock, no alembic environment
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(history, schema))))
        current = _current(conn, history, schema)
        if current == target:
            return  # another process upgraded it while this one waited
        if current is not None and current not in _known(history):
            raise ConfigError(_unknown_revision(engine, history, current))
        if current is None and history.tables & _existing(conn, schema):
            logger.info(
                "adopting the %s tables created before migrations into revision history", history.name
            )
        config = Config()
        config.set_main_option("script_location", _location(history))
        config.attributes.update(connection=conn, history=history, schema=schema)
        command.upgrade(config, target)


def run_env() -> None:
    """The body of every history's ``env.py``: migrate on the connection :func:`upgrade` passes."""
    from alembic import context

    attributes = context.config.attributes
    history: MigrationHistory = attributes["history"]
    context.configure(
        connection=attributes["connection"],
        target_metadata=history.metadata,
        version_table=history.version_table,
        version_table_schema=attributes["schema"],
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def existing_tables() -> set[str]:
    """Inside a revision: the tables already in the schema being migrated."""
    from alembic import op

    return _existing(op.get_bind(), op.get_context().version_table_schema)


def schema_differences(conn: sa.Connection, history: MigrationHistory) -> list[Any]:
    """What alembic's autogenerate finds between the database (in the connection's default schema)
    and the group's metadata: an empty list when the migrations create exactly the tables the code
    uses. Other groups' tables and the backend objects of ``history`` are left out."""
    return list(compare_metadata(_comparison(conn, history), history.metadata))


def suggested_revision(conn: sa.Connection, history: MigrationHistory) -> str:
    """The body of the revision that would close :func:`schema_differences` (alembic's rendering)."""
    script = produce_migrations(_comparison(conn, history), history.metadata)
    return render_python_code(script.upgrade_ops) if script.upgrade_ops is not None else ""


# -- internals ----------------------------------------------------------------------------------------


@functools.cache
def _script(history: MigrationHistory) -> ScriptDirectory:
    return ScriptDirectory(_location(history))


def _comparison(conn: sa.Connection, history: MigrationHistory) -> MigrationContext:
    def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if name in history.backend_objects:
            return False
        return kind != "table" or name in history.tables

    return MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})


def _known(history: MigrationHistory) -> set[str]:
    return {script.revision for script in _script(history).walk_revisions()}


def _location(history: MigrationHistory) -> str:
    return str(resources.files(history.package))


def _current(conn: sa.Connection, history: MigrationHistory, schema: str | None) -> str | None:
    if not sa.inspect(conn).has_table(history.version_table, schema=schema):
        return None
    context = MigrationContext.configure(
        conn, opts={"version_table": history.version_table, "version_table_schema": schema}
    )
    return context.get_current_revision()


def _existing(conn: sa.Connection, schema: str | None) -> set[str]:
    return set(sa.inspect(conn).get_table_names(schema=schema))


def _lock_key(history: MigrationHistory, schema: str | None) -> int:
    digest = hashlib.sha256(f"recpilot.migrate\x1f{history.name}\x1f{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _file_lock(engine: sa.Engine) -> Iterator[None]:
    """Two processes opening one new SQLite file migrate it in turn, not at once (SQLite runs DDL
    outside transactions under pysqlite, so the second would find half the tables)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:") or database.startswith("file:"):
        yield
        return
    lock = FileLock(f"{Path(database)}.migrate.lock", timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except OSError:  # a read-only folder (or a 2-minute wait): migrate unlocked, as before migrations
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _unknown_revision(engine: sa.Engine, history: MigrationHistory, current: str) -> str:
    where = engine.url.render_as_string(hide_password=True)
    return (
        f"the {history.name} tables in {where} are at revision {current!r}, which this recpilot does "
        f"not know (its newest is {head(history)!r}): a newer recpilot wrote them. Upgrade recpilot, "
        "or use another database"
    )
