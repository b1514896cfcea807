"""Feed-rule provenance: whose words asked for each rule, through what, in which turn, and when.

Five nullable columns on ``memory_feed_rules``. Rules stored before this revision are marked as of
unknown provenance (source and via ``unknown``), which every memory reads back as
:meth:`recpilot.memory.provenance.Provenance.legacy` and listings show as "unknown (before
provenance)". Frozen once released: a later change is a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "memory_0002"
down_revision: str | None = "memory_0001"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ("provenance_source", "provenance_via", "provenance_turn", "provenance_session", "provenance_at")


def upgrade() -> None:
    """Add the provenance columns and mark the rules already stored as of unknown provenance."""
    # The schema being migrated (a memory may live in its own PostgreSQL schema or attached SQLite
    # database); alembic's ALTER statements do not follow the engine's schema_translate_map.
    schema = op.get_context().version_table_schema
    with op.batch_alter_table("memory_feed_rules", schema=schema) as batch:
        batch.add_column(sa.Column("provenance_source", sa.String(32), nullable=True))
        batch.add_column(sa.Column("provenance_via", sa.String(32), nullable=True))
        batch.add_column(sa.Column("provenance_turn", sa.Integer, nullable=True))
        batch.add_column(sa.Column("provenance_session", sa.Text, nullable=True))
        batch.add_column(sa.Column("provenance_at", sa.Double, nullable=True))
    rules = sa.table(
        "memory_feed_rules",
        sa.column("provenance_source", sa.String),
        sa.column("provenance_via", sa.String),
        schema=schema,
    )
    op.execute(
        rules.update()
        .where(rules.c.provenance_source.is_(None))
        .values(provenance_source="unknown", provenance_via="unknown")
    )


def downgrade() -> None:
    """Drop the provenance columns (the provenance of every rule is lost)."""
    schema = op.get_context().version_table_schema
    with op.batch_alter_table("memory_feed_rules", schema=schema) as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
