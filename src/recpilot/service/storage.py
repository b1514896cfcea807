"""The service's own tables (tenants, API keys, sessions, feedback) in the catalog store's database.

Opening a :class:`ServiceStore` creates or upgrades them (alembic migrations, :data:`SERVICE`).

Every write is one short transaction. API keys are stored as SHA-256 hashes of their secret part:
the keys are 256-bit random tokens, so a fast hash is enough (no password-style stretching), and the
public ``key_id`` prefix finds the row without scanning. Feedback events carrying a client
``event_id`` are stored at most once per tenant (a unique constraint; retries are answered with the
first event's id).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from recpilot.errors import ConfigError
from recpilot.memory.sql_schema import harden_sqlite, write_transaction
from recpilot.service.errors import AuthenticationError
from recpilot.store import migrate
from recpilot.store.migrate import MigrationHistory

metadata = sa.MetaData()

tenants = sa.Table(
    "api_tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

sessions = sa.Table(
    "api_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_api_sessions_tenant_user", "tenant_id", "user_id"),
)

feedback = sa.Table(
    "api_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("event_id", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("tenant_id", "event_id", name="uq_api_feedback_tenant_event"),
    sa.Index("ix_api_feedback_tenant_user", "tenant_id", "user_id"),
    sqlite_autoincrement=True,
)

user_versions = sa.Table(
    "api_user_versions",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

simulations = sa.Table(
    "api_simulations",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("owner", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double, nullable=True),
    sa.Column("finished_at", sa.Double, nullable=True),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Index("ix_api_simulations_tenant", "tenant_id"),
)

SERVICE = MigrationHistory(name="service", package="recpilot.service.migrations", metadata=metadata)
"""The service tables' migration history (alembic revisions in ``recpilot/service/migrations``)."""

KEY_PREFIX = "rp"
#: Built once: this lookup runs on every recommendation for a user (SQLAlchemy memoises its cache key).
_VERSION_QUERY = sa.select(user_versions.c.version).where(
    user_versions.c.tenant_id == sa.bindparam("tenant"), user_versions.c.user_id == sa.bindparam("user")
)


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret part."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ServiceStore:
    """Tenants, API keys, session ownership and feedback events in one SQLAlchemy database.

    Args:
        engine: The database (usually the catalog store's engine); not disposed of here.

    Raises:
        ConfigError: The tables cannot be created or upgraded (alembic migrations), or a newer
            recpilot wrote them.
    """

    def __init__(self, engine: sa.Engine) -> None:
        harden_sqlite(engine)
        self._engine = engine
        self._insert: Callable[[sa.Table], Any] = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )
        try:
            migrate.upgrade(engine, SERVICE)
        except sa.exc.DBAPIError as err:
            where = engine.url.render_as_string(hide_password=True)
            raise ConfigError(f"cannot create or upgrade the service tables in {where}: {err.orig}") from err

    @property
    def engine(self) -> sa.Engine:
        """The database engine."""
        return self._engine

    # -- tenants and keys -----------------------------------------------------------------------------

    def ensure_tenant(self, tenant_id: str, name: str | None = None) -> None:
        """Create the tenant unless it exists (idempotent, safe under concurrency)."""
        row = {"tenant_id": tenant_id, "name": name or tenant_id, "created_at": time.time()}
        with write_transaction(self._engine) as conn:
            conn.execute(self._insert(tenants).values(row).on_conflict_do_nothing())

    def tenant_exists(self, tenant_id: str) -> bool:
        """Whether the tenant exists."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id))
            return found.first() is not None

    def issue_key(self, tenant_id: str, name: str = "") -> tuple[str, str]:
        """A new API key for an existing tenant: ``(key_id, key)``; only the secret's hash is stored."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        row = {
            "key_id": key_id,
            "tenant_id": tenant_id,
            "secret_hash": hash_secret(secret),
            "name": name,
            "created_at": time.time(),
            "revoked_at": None,
        }
        with write_transaction(self._engine) as conn:
            conn.execute(api_keys.insert().values(row))
        return key_id, f"{KEY_PREFIX}_{key_id}_{secret}"

    def verify_key(self, key: str) -> tuple[str, str]:
        """The ``(key_id, tenant_id)`` of a valid key.

        Raises:
            AuthenticationError: The key is malformed, unknown or revoked.
        """
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
            raise AuthenticationError(
                f"malformed API key: expected '{KEY_PREFIX}_<id>_<secret>' in 'Authorization: Bearer <key>'"
            )
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys.c.tenant_id, api_keys.c.secret_hash, api_keys.c.revoked_at).where(
                    api_keys.c.key_id == parts[1]
                )
            ).first()
        if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(parts[2])):
            raise AuthenticationError("unknown API key")
        if row.revoked_at is not None:
            raise AuthenticationError(f"API key {parts[1]} was revoked")
        return parts[1], str(row.tenant_id)

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return result.rowcount > 0

    # -- sessions ---------------------------------------------------------------------------------------

    def create_session(self, tenant_id: str, user_id: str) -> tuple[str, float]:
        """A new session owned by the tenant: ``(session_id, created_at)``."""
        session_id = uuid.uuid4().hex
        created = time.time()
        with write_transaction(self._engine) as conn:
            conn.execute(
                sessions.insert().values(
                    session_id=session_id, tenant_id=tenant_id, user_id=user_id, created_at=created
                )
            )
        return session_id, created

    def session(self, tenant_id: str, session_id: str) -> tuple[str, float] | None:
        """``(user_id, created_at)`` of the tenant's session, None when the tenant has no such session."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions.c.user_id, sessions.c.created_at).where(
                    sessions.c.session_id == session_id, sessions.c.tenant_id == tenant_id
                )
            ).first()
        return None if row is None else (str(row.user_id), float(row.created_at))

    def delete_user(self, tenant_id: str, user_id: str) -> int:
        """Delete the user's sessions and feedback events; returns how many rows."""
        with write_transaction(self._engine) as conn:
            return sum(
                conn.execute(
                    table.delete().where(table.c.tenant_id == tenant_id, table.c.user_id == user_id)
                ).rowcount
                for table in (sessions, feedback)
            )

    # -- profile versions (cache invalidation across processes) -----------------------------------------

    def bump_user_version(self, tenant_id: str, user_id: str) -> None:
        """Mark the user's preferences or feed rules as changed (every process's caches re-read them)."""
        insert = self._insert(user_versions).values(tenant_id=tenant_id, user_id=user_id, version=1)
        upsert = insert.on_conflict_do_update(
            index_elements=[user_versions.c.tenant_id, user_versions.c.user_id],
            set_={"version": user_versions.c.version + 1},
        )
        with write_transaction(self._engine) as conn:
            conn.execute(upsert)

    def user_version(self, tenant_id: str, user_id: str) -> int:
        """How many times the user's preferences or feed rules changed (0: never)."""
        with self._engine.connect() as conn:
            found = conn.execute(_VERSION_QUERY, {"tenant": tenant_id, "user": user_id}).scalar()
        return int(found or 0)

    # -- feedback ---------------------------------------------------------------------------------------

    def add_feedback(self, tenant_id: str, row: dict[str, Any]) -> tuple[int, bool]:
        """Store one feedback event: ``(id, created)``; a repeated ``event_id`` returns the first id."""
        values = {**row, "tenant_id": tenant_id, "created_at": time.time()}
        with write_transaction(self._engine) as conn:
            if values.get("event_id") is None:
                inserted = conn.execute(feedback.insert().values(values))
                key = inserted.inserted_primary_key
                assert key is not None
                return int(key[0]), True
            result = conn.execute(
                self._insert(feedback).values(values).on_conflict_do_nothing().returning(feedback.c.id)
            ).first()
            if result is not None:
                return int(result.id), True
            existing = conn.execute(
                sa.select(feedback.c.id).where(
                    feedback.c.tenant_id == tenant_id, feedback.c.event_id == values["event_id"]
                )
            ).scalar_one()
            return int(existing), False

    def feedback_events(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's feedback events, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(feedback)
                .where(feedback.c.tenant_id == tenant_id, feedback.c.user_id == user_id)
                .order_by(feedback.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]
