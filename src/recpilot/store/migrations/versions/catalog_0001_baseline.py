"""Baseline: the catalog tables as recpilot created them before migrations (store schema version 1).

Frozen: a later change of ``recpilot.store.schema`` is a new revision, never an edit here. A database
created before migrations (``create_all``) is adopted: only the tables it lacks are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recpilot.store.migrate import existing_tables

revision = "catalog_0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TOKENIZER = "tokenize='porter unicode61 remove_diacritics 2'"
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5("
    f"title, \"text\", content='items', content_rowid='id', {_TOKENIZER})",
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_title_fts USING fts5("
    f"title, content='items', content_rowid='id', {_TOKENIZER})",
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_text_fts USING fts5("
    f"\"text\", content='items', content_rowid='id', {_TOKENIZER})",
)
_POSTGRES_VECTORS = (
    "ALTER TABLE items "
    "ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(\"text\", ''))) STORED, "
    "ADD COLUMN title_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(title, ''))) STORED, "
    "ADD COLUMN text_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(\"text\", ''))) STORED",
    "CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)",
)


def upgrade() -> None:
    """Create the catalog tables the database lacks, with each backend's full-text index."""
    existing = existing_tables()
    dialect = op.get_bind().dialect.name
    if "meta" not in existing:
        op.create_table(
            "meta",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    if "items" not in existing:
        op.create_table(
            "items",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("external_id", sa.Text, nullable=False, unique=True),
            sa.Column("external_type", sa.String(8), nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("year", sa.Integer, nullable=True),
            sa.Column("popularity", sa.Integer, nullable=False),
        )
        op.create_index("ix_items_year", "items", ["year"])
        if dialect == "postgresql":
            for statement in _POSTGRES_VECTORS:
                op.execute(statement)
    if dialect == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    if "attributes" not in existing:
        op.create_table(
            "attributes",
            sa.Column("name", sa.String(128), primary_key=True),
            sa.Column("value_type", sa.String(8), nullable=False),
            sa.Column("multivalued", sa.Boolean, nullable=False),
            sa.Column("n_values", sa.Integer, nullable=False),
        )
    if "item_attributes" not in existing:
        op.create_table(
            "item_attributes",
            sa.Column(
                "item_id",
                sa.Integer,
                sa.ForeignKey("items.id", name="fk_item_attributes_item_id"),
                nullable=False,
            ),
            sa.Column(
                "name",
                sa.String(128),
                sa.ForeignKey("attributes.name", name="fk_item_attributes_name"),
                nullable=False,
            ),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("value_key", sa.Text, nullable=False),
            sa.Column("value_num", sa.Float, nullable=True),
            sa.PrimaryKeyConstraint("item_id", "name", "position"),
        )
        op.create_index("ix_item_attributes_name_value", "item_attributes", ["name", "value_key", "item_id"])
        op.create_index("ix_item_attributes_name_num", "item_attributes", ["name", "value_num", "item_id"])
    if "users" not in existing:
        op.create_table(
            "users",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("external_id", sa.Text, nullable=False, unique=True),
            sa.Column("external_type", sa.String(8), nullable=False),
        )
    if "interactions" not in existing:
        op.create_table(
            "interactions",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column(
                "user_id",
                sa.Integer,
                sa.ForeignKey("users.id", name="fk_interactions_user_id"),
                nullable=False,
            ),
            sa.Column(
                "item_id",
                sa.Integer,
                sa.ForeignKey("items.id", name="fk_interactions_item_id"),
                nullable=False,
            ),
            sa.Column("rating", sa.Float, nullable=False),
            sa.Column("timestamp", sa.BigInteger, nullable=False),
        )
        op.create_index("ix_interactions_user_time", "interactions", ["user_id", "timestamp", "id"])


def downgrade() -> None:
    """Not supported: the baseline is where a catalog store begins."""
    raise NotImplementedError("the catalog baseline cannot be downgraded; delete the database instead")
