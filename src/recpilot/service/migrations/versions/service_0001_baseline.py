"""Baseline: the service tables as recpilot created them before migrations.

Frozen: a later change of the service tables is a new revision, never an edit here. A database
created before migrations (``create_all``) is adopted: only the tables it lacks are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recpilot.store.migrate import existing_tables

revision = "service_0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False)


def upgrade() -> None:
    """Create the service tables the database lacks."""
    existing = existing_tables()
    if "api_tenants" not in existing:
        op.create_table(
            "api_tenants",
            sa.Column("tenant_id", sa.String(64), primary_key=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
        )
    if "api_keys" not in existing:
        op.create_table(
            "api_keys",
            sa.Column("key_id", sa.String(32), primary_key=True),
            _tenant(),
            sa.Column("secret_hash", sa.String(64), nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("revoked_at", sa.Double, nullable=True),
        )
    if "api_sessions" not in existing:
        op.create_table(
            "api_sessions",
            sa.Column("session_id", sa.String(64), primary_key=True),
            _tenant(),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
        )
        op.create_index("ix_api_sessions_tenant_user", "api_sessions", ["tenant_id", "user_id"])
    if "api_feedback" not in existing:
        op.create_table(
            "api_feedback",
            sa.Column("id", sa.Integer, primary_key=True),
            _tenant(),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("item_id", sa.Text, nullable=False),
            sa.Column("event", sa.String(16), nullable=False),
            sa.Column("value", sa.Double, nullable=True),
            sa.Column("session_id", sa.String(64), nullable=True),
            sa.Column("event_id", sa.String(128), nullable=True),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.UniqueConstraint("tenant_id", "event_id", name="uq_api_feedback_tenant_event"),
            sqlite_autoincrement=True,
        )
        op.create_index("ix_api_feedback_tenant_user", "api_feedback", ["tenant_id", "user_id"])
    if "api_user_versions" not in existing:
        op.create_table(
            "api_user_versions",
            sa.Column("tenant_id", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.Text, primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
        )
    if "api_simulations" not in existing:
        op.create_table(
            "api_simulations",
            sa.Column("job_id", sa.String(32), primary_key=True),
            _tenant(),
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
        )
        op.create_index("ix_api_simulations_tenant", "api_simulations", ["tenant_id"])


def downgrade() -> None:
    """Not supported: the baseline is where the service tables begin."""
    raise NotImplementedError("the service baseline cannot be downgraded; drop the service tables instead")
