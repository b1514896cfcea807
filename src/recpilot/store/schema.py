"""The relational schema of a catalog store (SQLAlchemy Core), including each backend's full-text index.

Internal ids are the :class:`~recpilot.data.Dataset` indices, so ``items.id`` is the row of the dataset
catalog and ``users.id`` the internal user index. External ids are stored as text together with their
original Python type, so ``1`` and ``"1"`` come back as what they were.

Every attribute value lives in ``item_attributes`` (lists exploded into one row per value), with a
case-folded ``value_key`` for matching and ``value_num`` for numeric values. ``year`` is also copied to
``items.year`` because ordering by it is common.

Full text: SQLite gets external-content FTS5 tables ``items_fts`` (title and text, for matching),
``items_title_fts`` and ``items_text_fts`` (for ranking), rebuilt after each import; PostgreSQL gets
generated ``tsvector`` columns ``search_vector`` (GIN-indexed), ``title_vector`` and ``text_vector``.
DDL hooks create them, since none fits a portable column type.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from recpilot.store.migrate import MigrationHistory

SCHEMA_VERSION: Final = 1
"""Bumped when the stored data's meaning changes (a store written by another version is refused); a
change of the tables' shape is an alembic revision in ``recpilot/store/migrations/versions``."""

FTS_TABLE: Final = "items_fts"
TITLE_FTS_TABLE: Final = "items_title_fts"
TEXT_FTS_TABLE: Final = "items_text_fts"
SEARCH_VECTOR: Final = "search_vector"
TITLE_VECTOR: Final = "title_vector"
TEXT_VECTOR: Final = "text_vector"
TEXT_CONFIG: Final = "english"
"""PostgreSQL text search configuration (stemming and stop words)."""

# Named foreign keys, so a bulk load can drop and re-create them (see backend.foreign_keys_deferred).
metadata = sa.MetaData(
    naming_convention={"ix": "ix_%(column_0_label)s", "fk": "fk_%(table_name)s_%(column_0_name)s"}
)

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

CATALOG: Final = MigrationHistory(
    name="catalog",
    package="recpilot.store.migrations",
    metadata=metadata,
    backend_objects=frozenset(
        {
            # SQLite: the FTS5 tables and the shadow tables FTS5 keeps beside each.
            *(
                f"{table}{suffix}"
                for table in (FTS_TABLE, TITLE_FTS_TABLE, TEXT_FTS_TABLE)
                for suffix in ("", "_data", "_idx", "_docsize", "_config")
            ),
            # PostgreSQL: the generated tsvector columns and their index.
            SEARCH_VECTOR,
            TITLE_VECTOR,
            TEXT_VECTOR,
            f"ix_items_{SEARCH_VECTOR}",
        }
    ),
)
"""The catalog's migration history (items, attributes, users, interactions, meta, full-text indexes)."""

# Children before parents: the order rows must be deleted in.
DELETE_ORDER: Final = (interactions, item_attributes, attributes, users, items, meta)

# Each backend keeps three text indexes: title and text together decide what matches, and title
# alone and text alone are scored separately (each normalised by its own length, as in BM25F) and
# summed with the title weighted up. A single index cannot rank well here: BM25 and ts_rank divide by
# the length of the whole row, so the long tag text of "The Matrix" would sink it below "The Matrix
# Reloaded" for "matrix".
_TOKENIZER = "tokenize='porter unicode61 remove_diacritics 2'"
_SQLITE_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"title, \"text\", content='items', content_rowid='id', {_TOKENIZER})"
)
_SQLITE_TITLE_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TITLE_FTS_TABLE} USING fts5("
    f"title, content='items', content_rowid='id', {_TOKENIZER})"
)
_SQLITE_TEXT_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TEXT_FTS_TABLE} USING fts5("
    f"\"text\", content='items', content_rowid='id', {_TOKENIZER})"
)
_POSTGRES_VECTOR = sa.DDL(  # type: ignore[no-untyped-call]
    f"ALTER TABLE %(fullname)s "
    f"ADD COLUMN {SEARCH_VECTOR} tsvector GENERATED ALWAYS AS ("
    f"to_tsvector('{TEXT_CONFIG}', coalesce(title, '') || ' ' || coalesce(\"text\", ''))) STORED, "
    f"ADD COLUMN {TITLE_VECTOR} tsvector GENERATED ALWAYS AS ("
    f"to_tsvector('{TEXT_CONFIG}', coalesce(title, ''))) STORED, "
    f"ADD COLUMN {TEXT_VECTOR} tsvector GENERATED ALWAYS AS ("
    f"to_tsvector('{TEXT_CONFIG}', coalesce(\"text\", ''))) STORED"
)
_POSTGRES_GIN = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE INDEX ix_items_{SEARCH_VECTOR} ON %(fullname)s USING gin ({SEARCH_VECTOR})"
)

for _ddl, _dialect in (
    (_SQLITE_FTS, "sqlite"),
    (_SQLITE_TITLE_FTS, "sqlite"),
    (_SQLITE_TEXT_FTS, "sqlite"),
    (_POSTGRES_VECTOR, "postgresql"),
    (_POSTGRES_GIN, "postgresql"),
):
    sa.event.listen(items, "after_create", _ddl.execute_if(dialect=_dialect))
