"""A frozen copy of the tables recpilot created with ``metadata.create_all`` before migrations existed.

Never edit this to follow the code: it is the schema that databases in the field were created with,
and ``test_migrations.py`` checks that opening such a database upgrades it with its rows intact.
"""

from __future__ import annotations

import sqlalchemy as sa

catalog = sa.MetaData(
    naming_convention={"ix": "ix_%(column_0_label)s", "fk": "fk_%(table_name)s_%(column_0_name)s"}
)
memory = sa.MetaData()
service = sa.MetaData()

meta = sa.Table(
    "meta",
    catalog,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

items = sa.Table(
    "items",
    catalog,
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
    catalog,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value_type", sa.String(8), nullable=False),
    sa.Column("multivalued", sa.Boolean, nullable=False),
    sa.Column("n_values", sa.Integer, nullable=False),
)

item_attributes = sa.Table(
    "item_attributes",
    catalog,
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
    catalog,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("external_id", sa.Text, nullable=False, unique=True),
    sa.Column("external_type", sa.String(8), nullable=False),
)

interactions = sa.Table(
    "interactions",
    catalog,
    # The row's position in the dataset: breaks timestamp ties the same way Dataset.sequences does.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
    sa.Column("rating", sa.Float, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_interactions_user_time", "user_id", "timestamp", "id"),
)

_TOKENIZER = "tokenize='porter unicode61 remove_diacritics 2'"
_SQLITE_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5("
    f"title, \"text\", content='items', content_rowid='id', {_TOKENIZER})"
)
_SQLITE_TITLE_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS items_title_fts USING fts5("
    f"title, content='items', content_rowid='id', {_TOKENIZER})"
)
_SQLITE_TEXT_FTS = sa.DDL(  # type: ignore[no-untyped-call]
    f"CREATE VIRTUAL TABLE IF NOT EXISTS items_text_fts USING fts5("
    f"\"text\", content='items', content_rowid='id', {_TOKENIZER})"
)
_POSTGRES_VECTOR = sa.DDL(  # type: ignore[no-untyped-call]
    "ALTER TABLE %(fullname)s "
    "ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(\"text\", ''))) STORED, "
    "ADD COLUMN title_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(title, ''))) STORED, "
    "ADD COLUMN text_vector tsvector GENERATED ALWAYS AS ("
    "to_tsvector('english', coalesce(\"text\", ''))) STORED"
)
_POSTGRES_GIN = sa.DDL(  # type: ignore[no-untyped-call]
    "CREATE INDEX ix_items_search_vector ON %(fullname)s USING gin (search_vector)"
)

for _ddl, _dialect in (
    (_SQLITE_FTS, "sqlite"),
    (_SQLITE_TITLE_FTS, "sqlite"),
    (_SQLITE_TEXT_FTS, "sqlite"),
    (_POSTGRES_VECTOR, "postgresql"),
    (_POSTGRES_GIN, "postgresql"),
):
    sa.event.listen(items, "after_create", _ddl.execute_if(dialect=_dialect))

preferences = sa.Table(
    "memory_preferences",
    memory,
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
    memory,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

turns_table = sa.Table(
    "memory_turns",
    memory,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_memory_turns_user", "user_id"),
)

dialogue_states = sa.Table(
    "memory_dialogue_states",
    memory,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_memory_dialogue_states_user", "user_id"),
)

feed_rules_table = sa.Table(
    "memory_feed_rules",
    memory,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("effect", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("target_key", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=True),
    sa.Index("ix_memory_feed_rules_user_key", "user_id", "target_key"),
    sqlite_autoincrement=True,  # a removed rule's id is never given to a new one
)

audit_table = sa.Table(
    "memory_audit",
    memory,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("entry", sa.Text, nullable=False),
    sa.Index("ix_memory_audit_user", "user_id"),
)

tenants = sa.Table(
    "api_tenants",
    service,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    service,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

sessions = sa.Table(
    "api_sessions",
    service,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("api_tenants.tenant_id"), nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_api_sessions_tenant_user", "tenant_id", "user_id"),
)

feedback = sa.Table(
    "api_feedback",
    service,
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
    service,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

simulations = sa.Table(
    "api_simulations",
    service,
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


#: Each group's frozen metadata by migration history name.
LEGACY: dict[str, sa.MetaData] = {"catalog": catalog, "memory": memory, "service": service}
