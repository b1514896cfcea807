"""The relational schema of a catalog store (SQLAlchemy Core), including each backend's full-text index.

Internal ids are the :class:`~recpilot.data.Dataset` indices, so ``items.id`` is the row of the dataset
catalog and ``users.id`` the internal user index. External ids are stored as text together with their
original Python type, so ``1`` and ``"1"`` come back as what they were.

Every attribute value lives in ``item_attributes`` (lists exploded into one row per value), with a
case-folded ``value_key`` for matching and ``value_num`` for numeric values. ``year`` is also copied to
``items.year`` because ordering by it is common.

Full text: SQLite gets an external-content FTS5 table ``items_fts`` over ``title`` and ``text``
(rebuilt after each import); PostgreSQL gets a generated, GIN-indexed ``tsvector`` column
``items.search_vector``. Both are created by DDL hooks, since neither fits a portable column type.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

SCHEMA_VERSION: Final = 1
"""Bumped whenever the tables change shape; a store written by another version is refused."""

FTS_TABLE: Final = "items_fts"
SEARCH_VECTOR: Final = "search_vector"
TEXT_CONFIG: Final = "english"
"""PostgreSQL text search configuration (stemming and stop words)."""

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("external_id", sa.Text, nullable=False, unique=True),
    sa.Column("external_type", sa.String(8), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("year", sa.Integer, nullable=True, index=True),
    sa.Column("popularity", sa.Integer, nullable=False),
)

attributes = sa.Table(
    "attributes",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value_type", sa.String(8), nullable=False),
    sa.Column("multivalued", sa.Boolean, nullable=False),
    sa.Column("n_values", sa.Integer, nullable=False),
)

item_attributes = sa.Table(
    "item_attributes",
    metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
    sa.Column("name", sa.String(128), sa.ForeignKey("attributes.name"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_key", sa.Text, nullable=False),
    sa.Column("value_num", sa.Float, nullable=True),
    sa.PrimaryKeyConstraint("item_id", "name", "position"),
    # Filters read "items having name=value": (name, value_key) -> item_id straight from the index.
    sa.Index("ix_item_attributes_name_value", "name", "value_key", "item_id"),
    sa.Index("ix_item_attributes_name_num", "name", "value_num", "item_id"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("external_id", sa.Text, nullable=False, unique=True),
    sa.Column("external_type", sa.String(8), nullable=False),
)

interactions = sa.Table(
    "interactions",
    metadata,
    # The row's position in the dataset: breaks timestamp ties the same way Dataset.sequences does.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
    sa.Column("rating", sa.Float, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_interactions_user_time", "user_id", "timestamp", "id"),
)

# Children before parents: the order rows must be deleted in.
DELETE_ORDER: Final = (interactions, item_attributes, attributes, users, items, meta)

_SQLITE_FTS = sa.DDL(
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "title, \"text\", content='items', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
# Title weighs more than body text (weight A against B), as in the SQLite bm25() call.
_POSTGRES_VECTOR = sa.DDL(
    f"ALTER TABLE %(fullname)s ADD COLUMN {SEARCH_VECTOR} tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('{TEXT_CONFIG}', coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('{TEXT_CONFIG}', coalesce(\"text\", '')), 'B')) STORED"
)
_POSTGRES_GIN = sa.DDL(f"CREATE INDEX ix_items_{SEARCH_VECTOR} ON %(fullname)s USING gin ({SEARCH_VECTOR})")

sa.event.listen(items, "after_create", _SQLITE_FTS.execute_if(dialect="sqlite"))
sa.event.listen(items, "after_create", _POSTGRES_VECTOR.execute_if(dialect="postgresql"))
sa.event.listen(items, "after_create", _POSTGRES_GIN.execute_if(dialect="postgresql"))
