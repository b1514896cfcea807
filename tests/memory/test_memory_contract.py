"""The memory contract over the tenant view, and what only the SQL memory promises.

The registered memories (``in-memory``; ``sql`` on a SQLite file and on PostgreSQL) run the contract
in ``tests/core/test_registered_parts.py``, generated from the registry (``recpilot.testing.registered``);
the tenant view is not a registered part, so its contract runs here. The SQL-only tests run on a SQLite
file and on PostgreSQL (a fresh schema per test, through the memory's ``schema`` option, dropped
afterwards); PostgreSQL tests skip only when the server is unreachable.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recpilot.errors import ConfigError
from recpilot.memory import (
    AttributeTarget,
    DialogueState,
    DialogueTurn,
    FeedRule,
    InMemoryProfileMemory,
    Preference,
    ProfileMemory,
)
from recpilot.memory.sql import SqlProfileMemory
from recpilot.service.tenancy import TenantMemory
from recpilot.store import CatalogStore
from recpilot.store.backend import create_engine, normalise_url
from recpilot.testing.backends import BACKENDS, POSTGRES_ADMIN_URL
from recpilot.testing.memory import ProfileMemoryContract


@pytest.fixture
def pg_schema(postgres_admin: sa.Engine) -> Iterator[str]:
    """The name of a schema that does not exist yet; dropped (if created) after the test."""
    name = f"recpilot_memory_{uuid.uuid4().hex[:12]}"
    yield name
    with postgres_admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _sqlite_engine(path: Path) -> sa.Engine:
    """A store-style SQLite engine without fsync: commits stay atomic and locked, only not durable
    across a power cut, which no test checks, and 20 times faster on a virtual disk."""
    engine = create_engine(normalise_url(path))

    @sa.event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    return engine


class TestTenantContract(ProfileMemoryContract):
    """A tenant's view implements only the hooks: the checks of the public methods still apply."""

    persistent = False

    @pytest.fixture
    def memory(self) -> ProfileMemory:
        return TenantMemory(InMemoryProfileMemory(), "acme")

    def reopen(self, memory: ProfileMemory) -> ProfileMemory:
        return memory


# -- SQL only -----------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def sql_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlProfileMemory]:
    """An empty SQL memory on each backend."""
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path / "memory.db")
        yield SqlProfileMemory(engine)
        engine.dispose()
    else:
        yield SqlProfileMemory(
            request.getfixturevalue("postgres_admin"), schema=request.getfixturevalue("pg_schema")
        )


def _count(memory: SqlProfileMemory, table: str, where: str = "", *, what: str = "*", **params: Any) -> int:
    schema = f"{memory.schema}." if memory.schema else ""
    with memory.engine.connect() as conn:
        query = f"SELECT count({what}) FROM {schema}{table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(query), params).scalar_one())


def _in_threads(n_threads: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in ``n_threads`` threads released at the same moment; re-raise the first error."""
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_concurrent_remember_never_duplicates_nor_loses(sql_memory: SqlProfileMemory) -> None:
    n_threads, rounds = 4, 5
    shared_ids: dict[int, set[int]] = {r: set() for r in range(rounds)}

    def work(i: int) -> None:
        for r in range(rounds):
            # Every thread remembers the same value (in its own casing) and one of its own.
            value = f"genres=Shared{r}" if i % 2 else f"GENRES=shared{r}"
            shared_ids[r].add(sql_memory.remember("ann", Preference(kind="like_attribute", value=value)).id)
            sql_memory.remember("ann", Preference(kind="like_attribute", value=f"genres=own-{i}-{r}"))

    _in_threads(n_threads, work)
    values = [v.lower() for v in sql_memory.profile("ann").values("like_attribute")]
    assert len(values) == len(set(values)), "no duplicates"
    assert set(values) == {f"genres=shared{r}" for r in range(rounds)} | {
        f"genres=own-{i}-{r}" for i in range(n_threads) for r in range(rounds)
    }, "nothing lost"
    assert all(len(ids) == 1 for ids in shared_ids.values()), "every thread got the one stored preference"


def test_concurrent_appends_keep_positions_unique(sql_memory: SqlProfileMemory) -> None:
    n_threads, per_thread = 4, 6

    def work(i: int) -> None:
        for j in range(per_thread):
            sql_memory.append_turn("s1", "ann", DialogueTurn(role="user", content=f"{i}:{j}"))

    _in_threads(n_threads, work)
    contents = [t.content for t in sql_memory.turns("s1")]
    assert sorted(contents) == sorted(f"{i}:{j}" for i in range(n_threads) for j in range(per_thread))
    for i in range(n_threads):
        mine = [c for c in contents if c.startswith(f"{i}:")]
        assert mine == [f"{i}:{j}" for j in range(per_thread)], "each writer's turns stay in its order"
    n_positions = _count(sql_memory, "memory_turns", what="DISTINCT position")
    assert n_positions == n_threads * per_thread


def test_replace_turns_is_atomic(sql_memory: SqlProfileMemory) -> None:
    before = [DialogueTurn(role="user", content=f"turn {i}") for i in range(4)]
    for turn in before:
        sql_memory.append_turn("s1", "ann", turn)

    def fail_on_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO") and "memory_turns" in statement:
            raise RuntimeError("disk full")

    sa.event.listen(sql_memory.engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            sql_memory.replace_turns("s1", "ann", [DialogueTurn(role="summary", content="condensed")])
    finally:
        sa.event.remove(sql_memory.engine, "before_cursor_execute", fail_on_insert)
    assert sql_memory.turns("s1") == before, "the delete was rolled back with the failed insert"


def test_expired_preferences_are_cleaned_lazily(sql_memory: SqlProfileMemory) -> None:
    past = time.time() - 60
    sql_memory.remember("ann", Preference(kind="like_item", value="1", expires_at=past))
    sql_memory.remember("bob", Preference(kind="like_item", value="1", expires_at=past))
    assert _count(sql_memory, "memory_preferences") == 2, "invisible, not yet deleted"
    sql_memory.remember("ann", Preference(kind="like_item", value="2"))
    assert _count(sql_memory, "memory_preferences", "user_id = :u AND value = '1'", u="ann") == 0
    assert _count(sql_memory, "memory_preferences", "user_id = :u", u="bob") == 1, "only the writer's rows"
    assert sql_memory.purge_expired() == 1
    assert _count(sql_memory, "memory_preferences") == 1


def test_forget_user_deletes_everything(sql_memory: SqlProfileMemory) -> None:
    for user in ("ann", "bob"):
        sql_memory.remember(user, Preference(kind="like_item", value="1"))
        sql_memory.remember(user, Preference(kind="constraint", value="short films"))
        sql_memory.set_summary(user, f"{user} likes short films")
        for session in (f"{user}-a", f"{user}-b"):
            sql_memory.append_turn(session, user, DialogueTurn(role="user", content="hi"))
    assert sql_memory.sessions("ann") == ["ann-a", "ann-b"]

    assert sql_memory.forget_user("ann") == 2 + 1 + 2
    assert sql_memory.profile("ann").preferences == []
    assert sql_memory.profile("ann").summary == ""
    assert sql_memory.sessions("ann") == []
    assert sql_memory.turns("ann-a") == []
    for table in (
        "memory_preferences",
        "memory_profiles",
        "memory_turns",
        "memory_dialogue_states",
        "memory_feed_rules",
    ):
        assert _count(sql_memory, table, "user_id = :u", u="ann") == 0
    assert len(sql_memory.profile("bob").preferences) == 2, "other users keep their memory"
    assert sql_memory.sessions("bob") == ["bob-a", "bob-b"]
    assert sql_memory.forget_user("ann") == 0


def test_nul_characters_are_stored_as_replacement(sql_memory: SqlProfileMemory) -> None:
    stored = sql_memory.remember("ann", Preference(kind="constraint", value="a\x00b"))
    sql_memory.append_turn("s1", "ann", DialogueTurn(role="user", content="x\x00"))
    assert stored.value == "a\ufffdb"
    assert sql_memory.turns("s1")[0].content == "x\ufffd"
    assert sql_memory.forget_matching("ann", "constraint", "A\x00B") == 1


def test_shares_the_catalog_store_database(tmp_path: Path) -> None:
    """The runtime's path: memory tables beside the catalog's, and a restart through a new store."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with CatalogStore(url) as store:
        SqlProfileMemory(store.engine).remember("ann", Preference(kind="like_item", value="1"))
        assert store.info().n_items == 0, "the catalog store still opens and reads"
    with CatalogStore(url) as store:
        assert SqlProfileMemory(store.engine).profile("ann").values("like_item") == ["1"]
        assert {"items", "memory_preferences", "memory_profiles", "memory_turns"} <= set(
            sa.inspect(store.engine).get_table_names()
        )


@pytest.mark.postgres
def test_postgres_store_search_path_and_schema_option(postgres_admin: sa.Engine, pg_schema: str) -> None:
    with postgres_admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {pg_schema}")
    url = f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{pg_schema}"
    with CatalogStore(url) as store:
        SqlProfileMemory(store.engine).set_summary("ann", "via the store")
    assert SqlProfileMemory(postgres_admin, schema=pg_schema).profile("ann").summary == "via the store"
    assert sa.inspect(postgres_admin).has_table("memory_profiles", schema=pg_schema)


def test_plain_sqlite_engine_is_safe_too(tmp_path: Path) -> None:
    """An engine made without the store's transaction hook (pysqlite's own implicit BEGIN)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    memory = SqlProfileMemory(engine)

    def work(i: int) -> None:
        memory.remember("ann", Preference(kind="like_item", value="1"))
        memory.append_turn("s", "ann", DialogueTurn(role="user", content=str(i)))

    try:
        _in_threads(3, work)
        assert len(memory.profile("ann").preferences) == 1
        assert sorted(t.content for t in memory.turns("s")) == ["0", "1", "2"]
    finally:
        engine.dispose()


def test_unsupported_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sa.create_engine("sqlite://")
    monkeypatch.setattr(engine.dialect, "name", "mysql")
    with pytest.raises(ConfigError, match=r"supports sqlite, postgresql, not 'mysql'"):
        SqlProfileMemory(engine)


def test_unreachable_database_is_a_config_error() -> None:
    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(ConfigError, match=r"cannot create the memory tables in postgresql"):
            SqlProfileMemory(engine)
    finally:
        engine.dispose()


def test_concurrent_feed_rules_never_duplicate_nor_lose(sql_memory: SqlProfileMemory) -> None:
    n_threads, rounds = 4, 4
    shared_ids: dict[int, set[int]] = {r: set() for r in range(rounds)}

    def rule(value: str) -> FeedRule:
        return FeedRule(
            user_id="ann", effect="exclude", target=AttributeTarget(attribute="genres", value=value)
        )

    def work(i: int) -> None:
        for r in range(rounds):
            shared_ids[r].add(sql_memory.add_feed_rule("ann", rule(f"Shared{r}")).id)
            sql_memory.add_feed_rule("ann", rule(f"own-{i}-{r}"))

    _in_threads(n_threads, work)
    rules = sql_memory.feed_rules("ann")
    values = [r.target.value for r in rules if isinstance(r.target, AttributeTarget)]
    assert len(values) == len(set(values)), "no duplicates"
    assert set(values) == {f"Shared{r}" for r in range(rounds)} | {
        f"own-{i}-{r}" for i in range(n_threads) for r in range(rounds)
    }, "nothing lost"
    assert all(len(ids) == 1 for ids in shared_ids.values()), "every writer got the one stored rule"


def test_concurrent_state_saves_keep_one_whole_state(sql_memory: SqlProfileMemory) -> None:
    def work(i: int) -> None:
        for turn in range(5):
            sql_memory.save_dialogue_state(
                DialogueState(session_id="s1", user_id="ann", turn=turn, shown=[[str(i)] * (turn + 1)])
            )

    _in_threads(4, work)
    state = sql_memory.dialogue_state("s1")
    assert state is not None
    assert state.turn == 4, "each writer's last save is turn 4; one of them wins whole"
    assert len(state.shown[0]) == 5
    assert len(set(state.shown[0])) == 1, "never a mix of two writers' states"
    assert _count(sql_memory, "memory_dialogue_states") == 1
