"""Baseline: the memory tables as recpilot created them before migrations.

Frozen: a later change of the memory tables is a new revision, never an edit here. A database created
before migrations (``create_all``) is adopted: only the tables it lacks are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recpilot.store.migrate import existing_tables

revision = "memory_0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the memory tables the database lacks."""
    existing = existing_tables()
    if "memory_preferences" not in existing:
        op.create_table(
            "memory_preferences",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("value_key", sa.String(64), nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("expires_at", sa.Double, nullable=True),
            sa.UniqueConstraint("user_id", "kind", "value_key", name="uq_memory_preferences_user_kind_value"),
            sqlite_autoincrement=True,
        )
    if "memory_profiles" not in existing:
        op.create_table(
            "memory_profiles",
            sa.Column("user_id", sa.Text, primary_key=True),
            sa.Column("summary", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Double, nullable=False),
        )
    if "memory_turns" not in existing:
        op.create_table(
            "memory_turns",
            sa.Column("session_id", sa.Text, primary_key=True),
            sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
        )
        op.create_index("ix_memory_turns_user", "memory_turns", ["user_id"])
    if "memory_dialogue_states" not in existing:
        op.create_table(
            "memory_dialogue_states",
            sa.Column("session_id", sa.Text, primary_key=True),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("state", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Double, nullable=False),
        )
        op.create_index("ix_memory_dialogue_states_user", "memory_dialogue_states", ["user_id"])
    if "memory_feed_rules" not in existing:
        op.create_table(
            "memory_feed_rules",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("effect", sa.String(16), nullable=False),
            sa.Column("target", sa.Text, nullable=False),
            sa.Column("target_key", sa.String(64), nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("expires_at", sa.Double, nullable=True),
            sqlite_autoincrement=True,
        )
        op.create_index("ix_memory_feed_rules_user_key", "memory_feed_rules", ["user_id", "target_key"])
    if "memory_audit" not in existing:
        op.create_table(
            "memory_audit",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Text, nullable=False),
            sa.Column("entry", sa.Text, nullable=False),
        )
        op.create_index("ix_memory_audit_user", "memory_audit", ["user_id"])


def downgrade() -> None:
    """Not supported: the baseline is where the memory begins."""
    raise NotImplementedError("the memory baseline cannot be downgraded; drop the memory tables instead")
