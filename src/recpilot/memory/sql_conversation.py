"""The SQL memory's conversational records: dialogue states, the users' feed rules and their audit log.

:class:`ConversationRecords` is a mixin of :class:`~recpilot.memory.sql.SqlProfileMemory`; its tables
share that memory's metadata, so they are created with the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from recpilot.memory.audit import AUDIT_LIMIT, AuditEntry
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import FeedRule
from recpilot.memory.provenance import Provenance
from recpilot.memory.sql_schema import lock_key, metadata, value_key, write_transaction
from recpilot.memory.values import storable

dialogue_states = sa.Table(
    "memory_dialogue_states",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_memory_dialogue_states_user", "user_id"),
)

feed_rules_table = sa.Table(
    "memory_feed_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("effect", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("target_key", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=True),
    # Provenance (revision memory_0002): null source only in rows an older recpilot wrote after the
    # upgrade; the upgrade marks older rows "unknown", and both read back as Provenance.legacy().
    sa.Column("provenance_source", sa.String(32), nullable=True),
    sa.Column("provenance_via", sa.String(32), nullable=True),
    sa.Column("provenance_turn", sa.Integer, nullable=True),
    sa.Column("provenance_session", sa.Text, nullable=True),
    sa.Column("provenance_at", sa.Double, nullable=True),
    sa.Index("ix_memory_feed_rules_user_key", "user_id", "target_key"),
    sqlite_autoincrement=True,  # a removed rule's id is never given to a new one
)

audit_table = sa.Table(
    "memory_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("entry", sa.Text, nullable=False),
    sa.Index("ix_memory_audit_user", "user_id"),
)


class ConversationRecords:
    """Dialogue states and feed rules over ``self._db`` (set by the memory that mixes this in)."""

    _db: sa.Engine
    _insert: Callable[[sa.Table], Any]

    # -- dialogue states -----------------------------------------------------------------------------------

    def save_dialogue_state(self, state: DialogueState) -> None:
        values = {
            "session_id": state.session_id,
            "user_id": state.user_id,
            "state": storable(state.model_dump_json()),
            "updated_at": time.time(),
        }
        statement = self._insert(dialogue_states).values(values)
        upsert = statement.on_conflict_do_update(
            index_elements=[dialogue_states.c.session_id],
            set_={
                "user_id": statement.excluded.user_id,
                "state": statement.excluded.state,
                "updated_at": statement.excluded.updated_at,
            },
        )
        with write_transaction(self._db) as conn:
            conn.execute(upsert)

    def dialogue_state(self, session_id: str) -> DialogueState | None:
        query = sa.select(dialogue_states.c.state).where(dialogue_states.c.session_id == session_id)
        with self._db.connect() as conn:
            text = conn.execute(query).scalar()
        return None if text is None else DialogueState.model_validate_json(text)

    # -- feed rules ----------------------------------------------------------------------------------------

    def _add_feed_rule(self, user_id: str, rule: FeedRule) -> FeedRule:
        target = rule.target.model_dump_json()
        key = value_key(f"{rule.effect}\x1f{target}")
        now = time.time()
        twin = sa.and_(
            feed_rules_table.c.user_id == user_id,
            feed_rules_table.c.target_key == key,
            sa.or_(feed_rules_table.c.expires_at.is_(None), feed_rules_table.c.expires_at > now),
        )
        text = rule.text
        with write_transaction(self._db) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key("memory_feed_rules", user_id))))
            # The UPDATE is the transaction's first statement: on SQLite it takes the write lock, so
            # two writers cannot both miss the twin and insert it twice.
            provenance = _provenance_columns(rule.provenance)
            # The latest instruction wins: its expiry and provenance (and wording, when it has one).
            updates: dict[str, Any] = {"expires_at": rule.expires_at, **provenance}
            if text:
                updates["text"] = text
            merged = conn.execute(feed_rules_table.update().where(twin).values(**updates)).rowcount
            if not merged:
                conn.execute(
                    feed_rules_table.insert().values(
                        user_id=user_id,
                        effect=rule.effect,
                        target=target,
                        target_key=key,
                        text=text,
                        created_at=rule.created_at,
                        expires_at=rule.expires_at,
                        **provenance,
                    )
                )
            row = conn.execute(
                sa.select(feed_rules_table)
                .where(feed_rules_table.c.user_id == user_id, feed_rules_table.c.target_key == key)
                .order_by(feed_rules_table.c.id.desc())
                .limit(1)
            ).one()
        return _feed_rule(row)

    def feed_rules(self, user_id: str, *, include_expired: bool = False) -> list[FeedRule]:
        query = sa.select(feed_rules_table).where(feed_rules_table.c.user_id == user_id)
        if not include_expired:
            now = time.time()
            query = query.where(
                sa.or_(feed_rules_table.c.expires_at.is_(None), feed_rules_table.c.expires_at > now)
            )
        with self._db.connect() as conn:
            rows = conn.execute(query.order_by(feed_rules_table.c.id)).all()
        return [_feed_rule(row) for row in rows]

    def remove_feed_rule(self, user_id: str, rule_id: int) -> bool:
        with write_transaction(self._db) as conn:
            result = conn.execute(
                feed_rules_table.delete().where(
                    feed_rules_table.c.id == rule_id, feed_rules_table.c.user_id == user_id
                )
            )
        return result.rowcount > 0


def _feed_rule(row: sa.Row[Any]) -> FeedRule:
    return FeedRule.model_validate(
        {
            "id": row.id,
            "user_id": row.user_id,
            "effect": row.effect,
            "target": json.loads(row.target),
            "text": row.text,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "provenance": _provenance(row),
        }
    )


def _provenance_columns(provenance: Provenance) -> dict[str, Any]:
    return {
        "provenance_source": provenance.source,
        "provenance_via": provenance.via,
        "provenance_turn": provenance.turn,
        "provenance_session": provenance.session_id,
        "provenance_at": provenance.at,
    }


def _provenance(row: sa.Row[Any]) -> Provenance:
    """The row's provenance; not known for a row stored before provenance was kept, and for one whose
    columns no writer of this recpilot could have made (a listing never fails on a stored value)."""
    if row.provenance_source is None or row.provenance_source == "unknown":
        return Provenance.legacy()
    try:
        return Provenance(
            source=row.provenance_source,
            via=row.provenance_via,
            turn=row.provenance_turn,
            session_id=row.provenance_session or "",
            at=row.provenance_at,
        )
    except ValidationError:
        return Provenance.legacy()


class AuditRecords:
    """The audit log of memory writes over ``self._db`` (one JSON :class:`AuditEntry` per row)."""

    _db: sa.Engine

    def record_audit(self, user_id: str, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        rows = [{"user_id": user_id, "entry": storable(e.model_dump_json())} for e in entries]
        with write_transaction(self._db) as conn:
            conn.execute(audit_table.insert(), rows)

    def audit_log(self, user_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        query = (
            sa.select(audit_table.c.entry)
            .where(audit_table.c.user_id == user_id)
            .order_by(audit_table.c.id.desc())
            .limit(limit)
        )
        with self._db.connect() as conn:
            return [AuditEntry.model_validate_json(text) for text in conn.execute(query).scalars()]
