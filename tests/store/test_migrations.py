"""Schema migrations: every table group upgrades to head, keeps the rows of a database made before
migrations, and its head equals the SQLAlchemy metadata the code uses (on SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from legacy_schema import LEGACY

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.memory import DialogueState, DialogueTurn, FeedRule, Preference, SqlProfileMemory
from recpilot.memory.audit import AuditEntry
from recpilot.memory.feed_rules import AttributeTarget
from recpilot.memory.provenance import Provenance
from recpilot.memory.sql_schema import MEMORY, value_key
from recpilot.service.storage import SERVICE, ServiceStore, simulations
from recpilot.store import CatalogQuery, CatalogStore, migrate
from recpilot.store.schema import CATALOG

HISTORIES = [CATALOG, MEMORY, SERVICE]


def _open_all(url: str) -> tuple[CatalogStore, SqlProfileMemory, ServiceStore]:
    """The three table groups on one database, as the service opens them."""
    store = CatalogStore(url)
    return store, SqlProfileMemory(store.engine), ServiceStore(store.engine)


def _fill(store: CatalogStore, memory: SqlProfileMemory, service: ServiceStore, dataset: Dataset) -> str:
    """A row in every table through the stores' own writers; returns an issued API key."""
    store.import_dataset(dataset)
    memory.remember("ann", Preference(kind="like_attribute", value="genres=Horror"))
    memory.set_summary("ann", "likes horror")
    memory.append_turn("s1", "ann", DialogueTurn(role="user", content="something scary"))
    memory.save_dialogue_state(DialogueState(session_id="s1", user_id="ann"))
    with memory.engine.begin() as conn:  # today's writer stores columns the frozen schema lacks
        _legacy_rule(conn, 1, "Drama", None)
    memory.record_audit(
        "ann", [AuditEntry(user_id="ann", action="added", record="preference", detail="x", provenance="tool")]
    )
    service.ensure_tenant("acme")
    _, key = service.issue_key("acme", "ci")
    session_id, _ = service.create_session("acme", "ann")
    service.add_feedback(
        "acme",
        {"user_id": "ann", "item_id": "10", "event": "click", "session_id": session_id, "event_id": "e1"},
    )
    service.bump_user_version("acme", "ann")
    now = time.time()
    with service.engine.begin() as conn:
        conn.execute(
            simulations.insert().values(
                job_id="j1",
                tenant_id="acme",
                owner="k",
                status="done",
                config="{}",
                done=1,
                total=1,
                result="{}",
                error=None,
                created_at=now,
                started_at=now,
                finished_at=now,
                heartbeat_at=now,
            )
        )
    return key


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the frozen schema, in primary-key order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for metadata in LEGACY.values():
            for table in metadata.sorted_tables:
                query = sa.select(table).order_by(*table.primary_key.columns)
                found[table.name] = [tuple(row) for row in conn.execute(query)]
    return found


def test_upgrade_keeps_the_rows_of_a_database_created_before_migrations(
    store_url: str, small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def create_all(
        engine: sa.Engine, history: migrate.MigrationHistory, *, schema: str | None = None
    ) -> None:
        LEGACY[history.name].create_all(engine)  # what opening did before migrations

    with monkeypatch.context() as patch:
        patch.setattr(migrate, "upgrade", create_all)
        store, memory, service = _open_all(store_url)
        key = _fill(store, memory, service, small)
        assert all(migrate.current_revision(store.engine, h) is None for h in HISTORIES)
        before = _snapshot(store.engine)
        store.close()
    assert all(before.values()), f"some table holds no row: {[t for t, rows in before.items() if not rows]}"

    store, memory, service = _open_all(store_url)
    try:
        assert _snapshot(store.engine) == before
        assert {h.name: migrate.current_revision(store.engine, h) for h in HISTORIES} == {
            h.name: migrate.head(h) for h in HISTORIES
        }
        with store.engine.connect() as conn:
            assert {h.name: migrate.schema_differences(conn, h) for h in HISTORIES} == {
                h.name: [] for h in HISTORIES
            }
        # The upgraded stores work: full-text search, memory reads and writes, API keys.
        assert [hit.item_id for hit in store.search(CatalogQuery(text="zeppelins"))] == [11]
        assert memory.profile("ann").values("like_attribute") == ["genres=Horror"]
        assert [(r.text, r.provenance) for r in memory.feed_rules("ann")] == [
            ("no drama", Provenance.legacy())
        ]
        assert memory.remember("ann", Preference(kind="like_item", value="12")).id == 2
        assert service.verify_key(key)[1] == "acme"
    finally:
        store.close()


@pytest.mark.postgres
def test_a_memory_in_its_own_postgres_schema_is_adopted_there(postgres_admin: sa.Engine) -> None:
    schema = f"recpilot_memory_{uuid.uuid4().hex[:12]}"
    with postgres_admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        LEGACY["memory"].create_all(postgres_admin.execution_options(schema_translate_map={None: schema}))
        with postgres_admin.begin() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO {schema}.memory_profiles (user_id, summary, updated_at) "
                "VALUES ('ann', 'old', 1)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {schema}.memory_feed_rules "
                "(user_id, effect, target, target_key, text, created_at) VALUES "
                """('ann', 'exclude', '{"kind":"title_pattern","pattern":"sequel"}', 'k', 'no sequels', 1)"""
            )
        memory = SqlProfileMemory(postgres_admin, schema=schema)
        assert memory.profile("ann").summary == "old"
        assert [r.provenance for r in memory.feed_rules("ann")] == [Provenance.legacy()]
        assert migrate.current_revision(postgres_admin, MEMORY, schema=schema) == migrate.head(MEMORY)
        assert sa.inspect(postgres_admin).has_table(MEMORY.version_table, schema=schema)
    finally:
        with postgres_admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def _legacy_rule(conn: sa.Connection, rule_id: int, value: str, expires_at: float | None) -> None:
    """A feed rule row as recpilot wrote it before provenance was kept (its columns only)."""
    target = AttributeTarget(attribute="genres", value=value).model_dump_json()
    conn.execute(
        LEGACY["memory"].tables["memory_feed_rules"].insert(),
        {
            "id": rule_id,
            "user_id": "ann",
            "effect": "exclude",
            "target": target,
            "target_key": value_key(f"exclude\x1f{target}"),
            "text": f"no {value.lower()}",
            "created_at": 1_000.0,
            "expires_at": expires_at,
        },
    )


def test_memory_at_0001_upgrades_with_its_rules_of_unknown_provenance(store_url: str) -> None:
    engine = CatalogStore(store_url).engine
    try:
        migrate.upgrade(engine, MEMORY, revision="memory_0001")
        assert migrate.current_revision(engine, MEMORY) == "memory_0001"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("memory_feed_rules")}
        assert "provenance_source" not in columns, "the database is as revision 0001 left it"
        with engine.begin() as conn:
            _legacy_rule(conn, 1, "Horror", None)
            _legacy_rule(conn, 2, "Drama", 2_000.0)  # expired long ago: kept and reported

        memory = SqlProfileMemory(engine)
        assert migrate.current_revision(engine, MEMORY) == migrate.head(MEMORY) == "memory_0002"
        with engine.connect() as conn:
            assert migrate.schema_differences(conn, MEMORY) == []
        rules = memory.feed_rules("ann", include_expired=True)
        assert [(r.id, r.text, r.expires_at) for r in rules] == [
            (1, "no horror", None),
            (2, "no drama", 2_000.0),
        ]
        assert [r.provenance for r in rules] == [Provenance.legacy()] * 2
        assert rules[0].provenance.describe() == "unknown (before provenance)"

        # Restating a legacy rule merges into it and records whose words restated it.
        said = Provenance(source="user", via="offline_parser", turn=2, session_id="s1")
        restated = memory.add_feed_rule(
            "ann",
            FeedRule(
                user_id="ann",
                effect="exclude",
                target=AttributeTarget(attribute="genres", value="horror"),
                text="no horror",
                provenance=said,
            ),
        )
        assert restated.id == 1
        assert memory.feed_rules("ann") == [restated]
        assert restated.provenance == said
        # A row an older recpilot still running writes after the upgrade (provenance columns left
        # null) reads as unknown too.
        with engine.begin() as conn:
            _legacy_rule(conn, 3, "Western", None)
        assert memory.feed_rules("ann")[-1].provenance == Provenance.legacy()
    finally:
        engine.dispose()


def test_a_fresh_database_gets_head_and_a_second_opening_changes_nothing(store_url: str) -> None:
    store, _, _ = _open_all(store_url)
    try:
        for history in HISTORIES:
            assert migrate.current_revision(store.engine, history) == migrate.head(history)
        before = _snapshot(store.engine)
        _open_all(store_url)[0].close()
        assert _snapshot(store.engine) == before
    finally:
        store.close()


@pytest.mark.parametrize("history", HISTORIES, ids=lambda h: h.name)
def test_head_creates_exactly_the_tables_of_the_metadata(
    store_url: str, history: migrate.MigrationHistory
) -> None:
    """Fails when a table changes in the code without a revision, and prints the revision it needs."""
    engine = CatalogStore(store_url).engine
    try:
        migrate.upgrade(engine, history)
        with engine.connect() as conn:
            differences = migrate.schema_differences(conn, history)
            needed = migrate.suggested_revision(conn, history)
        assert differences == [], (
            f"the {history.name} tables differ from the head of its migrations; add a revision in "
            f"{history.package.replace('.', '/')}/versions doing:\n{needed}"
        )
    finally:
        engine.dispose()


def test_a_database_from_a_newer_recpilot_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    CatalogStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {CATALOG.version_table} SET version_num = 'catalog_9999'"))
    engine.dispose()
    with pytest.raises(ConfigError, match=r"revision 'catalog_9999'.*newer recpilot"):
        CatalogStore(url)


def _open_in_process(url: str, barrier: Any) -> None:
    barrier.wait()
    store, _, _ = _open_all(url)
    store.close()


def test_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    workers = [context.Process(target=_open_in_process, args=(url, barrier)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    engine = sa.create_engine(url)
    try:
        assert all(migrate.current_revision(engine, h) == migrate.head(h) for h in HISTORIES)
    finally:
        engine.dispose()
