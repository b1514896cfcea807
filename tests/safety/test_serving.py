"""Serving hardening: the page key only for loopback names and same-origin requests, bounded ratings,
neutralised echoes, per-tenant policies and the audit log over HTTP (no 5xx under 200 concurrent chat
turns is ``tests/api/test_api_concurrency.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from recpilot.agent.runtime import build_runtime
from recpilot.api import create_app
from recpilot.memory.sql import SqlProfileMemory
from recpilot.safety import read_only_policy
from recpilot.service import LimitsConfig, RecommenderService
from recpilot.service.schemas import FeedbackIn
from recpilot.testing.backends import BACKENDS, postgres_schema
from recpilot.testing.injection_catalog import build_catalog

LIMITS = LimitsConfig(rate_per_s=10_000, burst=10_000)


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecommenderService]:
    """A service on the suite's film catalog, on a SQLite file or in a fresh PostgreSQL schema."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('serving') / 'serving.db'}"
        else:
            admin = request.getfixturevalue("postgres_admin")
            url = stack.enter_context(postgres_schema(admin, "recpilot_safety"))
        runtime = build_runtime(build_catalog(), store_url=url)
        built = RecommenderService(runtime, limits=LIMITS, tenant_policies={"locked": read_only_policy()})
        yield built
        built.close()


@contextlib.asynccontextmanager
async def _client(
    service: RecommenderService, host: str = "127.0.0.1", timeout: float = 30
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app over ``service`` (its lifespan started), as a client at ``host``."""
    app = create_app(service=service, page_api_key="rp_page")
    transport = httpx.ASGITransport(app=app, client=(host, 1234))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=timeout) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("client", "host", "headers", "status"),
    [
        ("127.0.0.1", "127.0.0.1:8000", {}, 200),
        (
            "127.0.0.1",
            "localhost:8000",
            {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"},
            200,
        ),
        ("::1", "[::1]:8000", {}, 200),
        ("127.0.0.1", "rebound.example:8000", {}, 404),
        ("127.0.0.1", "localhost.example.com", {}, 404),
        ("127.0.0.1", "127.0.0.1:8000", {"Origin": "http://evil.example"}, 404),
        ("127.0.0.1", "127.0.0.1:8000", {"Sec-Fetch-Site": "cross-site"}, 404),
        ("203.0.113.9", "127.0.0.1:8000", {}, 404),
    ],
)
def test_page_key_only_for_loopback_names_and_same_origin(
    service: RecommenderService, client: str, host: str, headers: dict[str, str], status: int
) -> None:
    async def fetch() -> httpx.Response:
        async with _client(service, client) as http:
            return await http.get("/config.json", headers={"Host": host, **headers})

    assert asyncio.run(fetch()).status_code == status


def test_ratings_are_bounded_and_echoes_neutralised(service: RecommenderService) -> None:
    tenant = f"echo-{uuid.uuid4().hex[:6]}"
    key = service.create_api_key(tenant).key
    headers = {"Authorization": f"Bearer {key}"}
    service.memory(tenant).set_summary("r", "Likes comedies \u202eevil\u202c\x1b[31m")  # a legacy value

    async def run() -> None:
        async with _client(service) as http:
            for value in (1e308, -5, 5.5):
                bad = await http.post(
                    "/v1/feedback",
                    json={"user_id": "r", "item_id": 1, "event": "rating", "value": value},
                    headers=headers,
                )
                assert bad.status_code == 422
                assert "between" in bad.json()["detail"]
            good = await http.post(
                "/v1/feedback",
                json={"user_id": "r", "item_id": 1, "event": "rating", "value": 4},
                headers=headers,
            )
            assert good.status_code == 202
            session = (await http.post("/v1/sessions", json={"user_id": "r"}, headers=headers)).json()[
                "session_id"
            ]
            sneaky = "a 90s comedy \u202eevil\u202c\x1b[31m called “Zz\u200bz”"
            reply = await http.post(
                f"/v1/sessions/{session}/messages", json={"content": sneaky}, headers=headers
            )
            history = await http.get(f"/v1/sessions/{session}/messages", headers=headers)
        texts = [reply.json()["reply"], *(m["content"] for m in history.json()["messages"])]
        profile = service.profile(tenant, "r")
        texts += [profile.summary, *(p.value for p in profile.preferences)]
        for text in texts:
            assert not any(c in text for c in "\u202e\u202c\x1b\u200b"), text

    asyncio.run(run())


def test_per_tenant_policy_and_audit_over_http(service: RecommenderService) -> None:
    locked = service.create_api_key("locked").key
    open_key = service.create_api_key(f"open-{uuid.uuid4().hex[:6]}").key

    async def turn(key: str) -> tuple[dict[str, object], dict[str, object]]:
        headers = {"Authorization": f"Bearer {key}"}
        async with _client(service) as http:
            session = (await http.post("/v1/sessions", json={"user_id": "pat"}, headers=headers)).json()[
                "session_id"
            ]
            reply = await http.post(
                f"/v1/sessions/{session}/messages",
                json={"content": "remember that I love westerns"},
                headers=headers,
            )
            audit = await http.get("/v1/users/pat/audit", headers=headers)
        return reply.json(), audit.json()

    refused, nothing = asyncio.run(turn(locked))
    assert "I did not save a preference" in str(refused["reply"])
    assert nothing["entries"] == []
    _, audit = asyncio.run(turn(open_key))
    assert [(e["action"], e["detail"], e["provenance"]) for e in audit["entries"]] == [  # type: ignore[union-attr]
        ("added", "like_attribute genres=Western", "user turn 1")
    ]


def test_the_feedback_audit_lists_the_opposite_mark_it_replaced(service: RecommenderService) -> None:
    tenant = f"fb-{uuid.uuid4().hex[:6]}"
    service.create_tenant(tenant)
    service.feedback(tenant, FeedbackIn(user_id="fan", item_id=5, event="like"))
    service.feedback(tenant, FeedbackIn(user_id="fan", item_id=5, event="dislike"))
    assert [p.kind for p in service.memory(tenant).profile("fan").preferences] == ["dislike_item"]
    log = service.audit(tenant, "fan").entries
    assert sorted((e.action, e.detail, e.provenance) for e in log) == [
        ("added", "dislike_item 5", "feedback"),
        ("added", "like_item 5", "feedback"),
        ("removed", "like_item 5", "feedback"),
    ]


def test_sqlite_memory_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    SqlProfileMemory(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30_000
    engine.dispose()
