"""Profile memory in a SQL database (SQLite or PostgreSQL), usually the catalog store's own.

Six tables, created or upgraded on opening by the memory's alembic migrations
(:data:`~recpilot.memory.sql_schema.MEMORY`): ``memory_preferences`` (one row per remembered preference),
``memory_profiles`` (the summary), ``memory_turns`` (dialogue messages, numbered per session),
``memory_dialogue_states`` (one JSON :class:`DialogueState` per session, upserted),
``memory_feed_rules`` (one row per feed rule, its target as JSON, its provenance in columns) and
``memory_audit`` (the user's audit log).

Concurrency: every write is one short transaction. Duplicates are impossible because a unique
constraint covers ``(user_id, kind, value_key)``, where ``value_key`` is a hash of the lower-cased
value (a hash, because PostgreSQL cannot index 10k-character texts), and inserts ignore conflicts.
Expired rows are deleted before each insert, so the constraint only ever sees active preferences.
Turn positions come from ``max(position) + 1`` inside the insert; PostgreSQL serialises the writers
of one session with a transaction-scoped advisory lock, SQLite with its database write lock (every
write transaction here starts with a write, so SQLite's busy timeout applies instead of a deadlock).
Feed rules are merged with an active twin (same effect and target, keyed by a hash) under the same
scheme: an UPDATE first (SQLite's lock), a per-user advisory lock on PostgreSQL, then the INSERT.
On a SQLite file the writers of one process also take turns (:func:`~recpilot.memory.sql_schema.
write_transaction`), with WAL and a 30 s busy timeout for other processes, so a burst of concurrent
chat turns queues instead of failing with "database is locked".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from recpilot.errors import ConfigError
from recpilot.memory.base import DialogueTurn, Preference, PreferenceKind, ProfileMemory, UserProfile
from recpilot.memory.sql_conversation import (
    AuditRecords,
    ConversationRecords,
    audit_table,
    dialogue_states,
    feed_rules_table,
)
from recpilot.memory.sql_schema import (
    MEMORY,
    harden_sqlite,
    lock_key,
    metadata,
    value_key,
    write_transaction,
)
from recpilot.memory.values import storable
from recpilot.store import migrate

SUPPORTED_DIALECTS: Final = ("sqlite", "postgresql")

preferences = sa.Table(
    "memory_preferences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_key", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=True),
    sa.UniqueConstraint("user_id", "kind", "value_key", name="uq_memory_preferences_user_kind_value"),
    # Never reuse the id of a forgotten preference: a stale id must not delete a newer one.
    sqlite_autoincrement=True,
)

profiles = sa.Table(
    "memory_profiles",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

turns_table = sa.Table(
    "memory_turns",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_memory_turns_user", "user_id"),
)


class SqlProfileMemory(ConversationRecords, AuditRecords, ProfileMemory):
    """Profiles and sessions in SQLite or PostgreSQL; a new instance over the same database sees everything.

    Safe to share between threads and processes: concurrent writers never duplicate a preference,
    lose one, or give two turns of a session the same position. Texts are stored as given, except
    NUL characters, which become U+FFFD on every backend because PostgreSQL cannot store them.

    Args:
        engine: The database (e.g. ``CatalogStore.engine``); the memory does not dispose of it.
        schema: Where to keep the tables: a PostgreSQL schema (created when missing) or, on SQLite,
            the name of a database attached on every connection; None uses the connection's default
            (on PostgreSQL, the first schema of its ``search_path``).

    Raises:
        ConfigError: The database is neither SQLite nor PostgreSQL, or the tables cannot be created.

    Example:
        >>> import sqlalchemy as sa
        >>> memory = SqlProfileMemory(sa.create_engine("sqlite://"))
        >>> memory.remember("ann", Preference(kind="like_attribute", value="genres=Horror")).id
        1
    """

    def __init__(self, engine: sa.Engine, *, schema: str | None = None) -> None:
        dialect = engine.dialect.name
        if dialect not in SUPPORTED_DIALECTS:
            raise ConfigError(
                f"SqlProfileMemory supports {', '.join(SUPPORTED_DIALECTS)}, not {dialect!r}; "
                "use InMemoryProfileMemory or a SQLite/PostgreSQL store URL"
            )
        harden_sqlite(engine)
        self._engine = engine
        self._schema = schema
        self._db = engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        self._insert: Callable[[sa.Table], Any] = (
            postgresql.insert if dialect == "postgresql" else sqlite.insert
        )
        self._create_tables()

    @property
    def engine(self) -> sa.Engine:
        """The engine the memory was opened on."""
        return self._engine

    @property
    def schema(self) -> str | None:
        """The schema holding the tables (None: the connection's default)."""
        return self._schema

    def __repr__(self) -> str:
        where = self._engine.url.render_as_string(hide_password=True)
        return f"SqlProfileMemory({where!r}" + (f", schema={self._schema!r})" if self._schema else ")")

    # -- preferences -----------------------------------------------------------------------------------

    def profile(self, user_id: str) -> UserProfile:
        now = time.time()
        active = sa.or_(preferences.c.expires_at.is_(None), preferences.c.expires_at > now)
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(preferences)
                .where(preferences.c.user_id == user_id, active)
                .order_by(preferences.c.id)
            ).all()
            summary = conn.execute(
                sa.select(profiles.c.summary).where(profiles.c.user_id == user_id)
            ).scalar()
        return UserProfile(
            user_id=user_id, preferences=[_preference(row) for row in rows], summary=summary or ""
        )

    def _remember(self, user_id: str, preference: Preference) -> Preference:
        value = preference.value
        key = value_key(value)
        row = {
            "user_id": user_id,
            "kind": preference.kind,
            "value": value,
            "value_key": key,
            "source": preference.source,
            "created_at": preference.created_at,
            "expires_at": preference.expires_at,
        }
        with write_transaction(self._db) as conn:
            # The cleanup comes first: it is the write that takes SQLite's lock, and it frees the
            # unique key of an expired twin so the new preference can take its place.
            self._delete_expired(conn, user_id, time.time())
            conn.execute(self._insert(preferences).values(row).on_conflict_do_nothing())
            stored = conn.execute(
                sa.select(preferences).where(
                    preferences.c.user_id == user_id,
                    preferences.c.kind == preference.kind,
                    preferences.c.value_key == key,
                )
            ).one()
        return _preference(stored)

    def forget(self, user_id: str, preference_id: int) -> bool:
        with write_transaction(self._db) as conn:
            result = conn.execute(
                preferences.delete().where(
                    preferences.c.id == preference_id, preferences.c.user_id == user_id
                )
            )
        return result.rowcount > 0

    def forget_matching(self, user_id: str, kind: PreferenceKind | None, value: str) -> int:
        """Delete active preferences whose value matches (case-insensitive); returns how many."""
        condition = sa.and_(
            preferences.c.user_id == user_id, preferences.c.value_key == value_key(storable(value))
        )
        if kind is not None:
            condition = sa.and_(condition, preferences.c.kind == kind)
        with write_transaction(self._db) as conn:
            self._delete_expired(conn, user_id, time.time())
            result = conn.execute(preferences.delete().where(condition))
        return result.rowcount

    def purge_expired(self) -> int:
        """Delete every user's expired preferences now (they are also deleted lazily); returns how many."""
        with write_transaction(self._db) as conn:
            return self._delete_expired(conn, None, time.time())

    def _set_summary(self, user_id: str, summary: str) -> None:
        values = {"user_id": user_id, "summary": summary, "updated_at": time.time()}
        statement = self._insert(profiles).values(values)
        upsert = statement.on_conflict_do_update(
            index_elements=[profiles.c.user_id],
            set_={"summary": statement.excluded.summary, "updated_at": statement.excluded.updated_at},
        )
        with write_transaction(self._db) as conn:
            conn.execute(upsert)

    # -- sessions --------------------------------------------------------------------------------------

    def _append_turn(self, session_id: str, user_id: str, turn: DialogueTurn) -> None:
        next_position = sa.select(
            sa.literal(session_id, sa.Text),
            sa.func.coalesce(sa.func.max(turns_table.c.position), -1) + 1,
            sa.literal(user_id, sa.Text),
            sa.literal(turn.role, sa.String),
            sa.literal(turn.content, sa.Text),
            sa.literal(turn.created_at, sa.Double),
        ).where(turns_table.c.session_id == session_id)
        columns = ["session_id", "position", "user_id", "role", "content", "created_at"]
        with write_transaction(self._db) as conn:
            self._lock_session(conn, session_id)
            conn.execute(turns_table.insert().from_select(columns, next_position))

    def turns(self, session_id: str) -> list[DialogueTurn]:
        query = (
            sa.select(turns_table.c.role, turns_table.c.content, turns_table.c.created_at)
            .where(turns_table.c.session_id == session_id)
            .order_by(turns_table.c.position)
        )
        with self._db.connect() as conn:
            rows = conn.execute(query).all()
        return [DialogueTurn(role=row.role, content=row.content, created_at=row.created_at) for row in rows]

    def _replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        rows = [
            {
                "session_id": session_id,
                "position": position,
                "user_id": user_id,
                "role": turn.role,
                "content": turn.content,
                "created_at": turn.created_at,
            }
            for position, turn in enumerate(turns)
        ]
        with write_transaction(self._db) as conn:  # readers see the old turns or the new ones
            self._lock_session(conn, session_id)
            conn.execute(turns_table.delete().where(turns_table.c.session_id == session_id))
            if rows:
                conn.execute(turns_table.insert(), rows)

    def sessions(self, user_id: str) -> list[str]:
        """The ids of the user's sessions, the one started first first."""
        query = (
            sa.select(turns_table.c.session_id)
            .where(turns_table.c.user_id == user_id)
            .group_by(turns_table.c.session_id)
            .order_by(sa.func.min(turns_table.c.created_at), turns_table.c.session_id)
        )
        with self._db.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- the user's right to be forgotten ---------------------------------------------------------------

    def forget_user(self, user_id: str) -> int:
        """Delete everything remembered about a user: preferences, summary, sessions and feed rules.

        Returns:
            How many records were deleted (preferences, the summary, dialogue turns, dialogue states
            and feed rules).
        """
        with write_transaction(self._db) as conn:
            return sum(
                conn.execute(table.delete().where(table.c.user_id == user_id)).rowcount
                for table in (
                    preferences,
                    profiles,
                    turns_table,
                    dialogue_states,
                    feed_rules_table,
                    audit_table,
                )
            )

    # -- internals -------------------------------------------------------------------------------------

    def _create_tables(self) -> None:
        try:
            with write_transaction(self._db) as conn:
                if (
                    self._schema
                    and conn.dialect.name == "postgresql"
                    and not sa.inspect(conn).has_schema(self._schema)
                ):
                    conn.execute(sa.schema.CreateSchema(self._schema, if_not_exists=True))
            migrate.upgrade(self._db, MEMORY, schema=self._schema)
        except sa.exc.DBAPIError as err:
            if not self._tables_exist():  # another process may have created them at the same moment
                where = self._engine.url.render_as_string(hide_password=True)
                raise ConfigError(
                    f"cannot create the memory tables in {where}"
                    + (f" (schema {self._schema!r})" if self._schema else "")
                    + f": {err.orig}. Check that the server is running and that the user may create "
                    "tables there"
                ) from err

    def _tables_exist(self) -> bool:
        try:
            with self._db.connect() as conn:
                inspector = sa.inspect(conn)
                return all(
                    inspector.has_table(table.name, schema=self._schema) for table in metadata.sorted_tables
                )
        except sa.exc.DBAPIError:
            return False

    def _delete_expired(self, conn: sa.Connection, user_id: str | None, now: float) -> int:
        condition = sa.and_(preferences.c.expires_at.is_not(None), preferences.c.expires_at <= now)
        if user_id is not None:
            condition = sa.and_(preferences.c.user_id == user_id, condition)
        return conn.execute(preferences.delete().where(condition)).rowcount

    def _lock_session(self, conn: sa.Connection, session_id: str) -> None:
        # SQLite allows one writer at a time anyway; PostgreSQL needs the lock, or two appends could
        # both read the same max(position).
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key("memory_turns", session_id))))


def _preference(row: sa.Row[Any]) -> Preference:
    return Preference(
        id=row.id,
        kind=row.kind,
        value=row.value,
        source=row.source,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )
