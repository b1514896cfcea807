"""200 chat turns at once against the real app, on SQLite and PostgreSQL: no 5xx, and every turn is
stored whole (both messages and the session's dialogue state).

All 200 turns run at the same moment: the worker-thread limit of the app's event loop is raised to
200, so every turn is in the agent (and its memory writes) together, and each write is held 10 ms
longer inside its transaction, as on a loaded disk. On the code before the serving hardening
(72ef2e8^) this failed on SQLite in each of the 6 runs tried (1 to 15 turns of 200 answered 500
with ``sqlite3.OperationalError: database is locked``, in ``save_dialogue_state`` among other writes,
as the issue reported; without the delay, 2 runs of 10); PostgreSQL passed there too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anyio.to_thread
import httpx2 as httpx
import pytest
import sqlalchemy as sa

from recpilot.agent.runtime import build_runtime
from recpilot.api import create_app
from recpilot.service import LimitsConfig, RecommenderService
from recpilot.testing.backends import BACKENDS, postgres_schema
from recpilot.testing.injection_catalog import build_catalog

TURNS = 200
USERS = 20
#: How much longer each write holds its transaction (a loaded disk).
WRITE_DELAY_S = 0.01
MESSAGES = ("a 90s comedy", "westerns please", "no more horror this week", "remember that I love westerns")


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecommenderService]:
    """A service on a small film catalog (turns take milliseconds), on a SQLite file or in a fresh
    PostgreSQL schema; no rate limit gets in the way."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('concurrency') / 'serving.db'}"
        else:
            admin = request.getfixturevalue("postgres_admin")
            url = stack.enter_context(postgres_schema(admin, "recpilot_load"))
        limits = LimitsConfig(rate_per_s=10_000, burst=10_000)
        built = RecommenderService(build_runtime(build_catalog(), store_url=url), limits=limits)
        yield built
        built.close()


def _slow_writes(engine: sa.Engine, seconds: float) -> Any:
    """Hold every write ``seconds`` longer inside its transaction (a loaded disk); returns the hook."""

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            time.sleep(seconds)

    sa.event.listen(engine, "after_cursor_execute", hold)
    return hold


async def _concurrent_turns(service: RecommenderService, key: str) -> tuple[list[str], list[httpx.Response]]:
    """Open TURNS sessions, then send one message in each, all at once; returns the sessions and replies."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = TURNS  # this loop's limit only
    app = create_app(service=service)
    # A server error comes back as its 500 response (as a real client sees it), not as an exception.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234), raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=600) as http,
    ):
        sessions = []
        for i in range(TURNS):
            opened = await http.post("/v1/sessions", json={"user_id": f"u{i % USERS}"}, headers=headers)
            sessions.append(opened.json()["session_id"])
        replies = await asyncio.gather(
            *(
                http.post(
                    f"/v1/sessions/{s}/messages",
                    json={"content": MESSAGES[i % len(MESSAGES)]},
                    headers=headers,
                )
                for i, s in enumerate(sessions)
            )
        )
    return sessions, list(replies)


def test_200_concurrent_chat_turns_give_no_5xx_and_every_turn_is_stored_whole(
    service: RecommenderService,
) -> None:
    tenant = f"load-{uuid.uuid4().hex[:6]}"
    key = service.create_api_key(tenant).key
    engine = service.runtime.catalog.store.engine
    hook = _slow_writes(engine, WRITE_DELAY_S)
    try:
        sessions, replies = asyncio.run(_concurrent_turns(service, key))
    finally:
        sa.event.remove(engine, "after_cursor_execute", hook)

    failed = [(r.status_code, r.text[:300]) for r in replies if r.status_code >= 500]
    assert failed == [], f"{len(failed)} of {TURNS} turns failed"
    assert {r.status_code for r in replies} == {200}
    memory = service.memory(tenant)
    for i, session in enumerate(sessions):
        sent = MESSAGES[i % len(MESSAGES)]
        assert [(t.role, t.content) for t in memory.turns(session)] == [
            ("user", sent),
            ("assistant", replies[i].json()["reply"]),
        ], f"turn {i} stored whole"
        state = memory.dialogue_state(session)
        assert state is not None, f"the dialogue state of turn {i} was saved"
        assert (state.session_id, state.user_id, state.turn) == (session, f"u{i % USERS}", 1)
