"""The HTTP and agent adapters against live counterparts: a loopback HTTP server and the offline agent.

The HTTP server is a real one (``http.server`` in a thread, on a free loopback port) whose answer
depends on the ``user_id`` of the request, so one server plays every failure a service can have.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import numpy as np
import pytest
from _s1_data import clustered_dataset

from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.environment import AgentRecommender, CatalogGuard, HttpRecommender
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import SimColumns, SimulationConfig
from recpilot.testing.recommenders import serving

CATALOG = np.array([str(i) for i in range(1, 161)], dtype=object)  # the clustered dataset's item ids

#: What the server answers per user id: (HTTP status, body bytes, delay in seconds).
ANSWERS: dict[str, tuple[int, bytes, float]] = {
    "good": (200, json.dumps({"items": [{"item_id": 5}, {"item_id": 6}, {"item_id": 7}]}).encode(), 0.0),
    "plain": (200, json.dumps(["8", "9"]).encode(), 0.0),
    "error": (500, b'{"detail": "internal error"}', 0.0),
    "slow": (200, b'["1", "2"]', 1.0),
    "dupes": (200, b'["3", "3", "4"]', 0.0),
    "unknown": (200, b'["999", "4", "abc"]', 0.0),
    "malformed": (200, b'{"items": [1, 2', 0.0),
    "wrong-shape": (200, b'{"recommendations": "none"}', 0.0),
}


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        user = str(body["user_id"])
        status, payload, delay = ANSWERS.get(user, (200, b'["10", "11", "12"]', 0.0))
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and hung up
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """A recommender service on a free loopback port, for the module's tests."""
    with serving(_Handler) as url:
        yield url


def _pages(url: str, users: list[str], *, timeout_s: float = 0.3) -> dict[str, tuple[list[str], list[str]]]:
    """Each user's ``(clean ids, errors)`` from one live adapter; the adapter is closed in the same loop."""

    async def go() -> dict[str, tuple[list[str], list[str]]]:
        rec = HttpRecommender(url, timeout_s=timeout_s)
        guard = CatalogGuard(CATALOG)
        try:
            return {u: await guard.fetch_page(rec, u, ["1"], 3, ["2"], timeout_s + 1.0) for u in users}
        finally:
            await rec.aclose()

    return asyncio.run(go())


def test_good_answers_pass_and_the_request_carries_the_contract(service: str) -> None:
    _Handler.requests.clear()
    pages = _pages(service, ["good", "plain"])
    assert pages["good"] == (["5", "6", "7"], [])
    assert pages["plain"] == (["8", "9"], [])
    assert _Handler.requests[0] == {"user_id": "good", "history": ["1"], "k": 3, "exclude": ["2"]}


def test_every_failure_is_recorded_and_none_raises(service: str) -> None:
    pages = _pages(service, ["error", "slow", "dupes", "unknown", "malformed", "wrong-shape"])
    ids, errors = pages["error"]
    assert ids == []
    assert "HTTPStatusError" in errors[0]
    assert "500" in errors[0]
    ids, errors = pages["slow"]
    assert ids == []
    assert "Timeout" in errors[0]
    ids, errors = pages["dupes"]
    assert ids == ["3", "4"]
    assert errors == ["recommender returned duplicate ids: 3"]
    ids, errors = pages["unknown"]
    assert ids == ["4"]
    assert errors == ["recommender returned unknown ids: 999, abc"]
    ids, errors = pages["malformed"]
    assert ids == []
    assert "JSONDecodeError" in errors[0]
    ids, errors = pages["wrong-shape"]
    assert ids == []
    assert "ValueError" in errors[0]
    assert "'items' list" in errors[0]


def test_a_run_against_a_live_service_records_errors_per_session(service: str) -> None:
    """Users the service cannot serve end their session with the error on record; the others go on."""
    config = SimulationConfig(users=8, sessions=1, pages=2, page_size=3, seed=1, recommender=service)
    run = build_simulation(config, dataset=clustered_dataset())
    assert isinstance(run.recommender, HttpRecommender)
    runner = SimulationRunner(run)
    result = runner.run_sync()
    assert result.user_sessions == 8
    # every real user gets the default answer ["10", "11", "12"]: clean on page 1, all excluded on page 2
    sessions = runner.sessions
    assert (sessions[SimColumns.PAGES_SEEN] == 1).all()
    assert sessions[SimColumns.ERRORS].map(" | ".join).str.contains("excluded ids: 10, 11, 12").all()
    assert set(runner.items[SimColumns.ITEM]) == {"10", "11", "12"}
    asyncio.run(run.recommender.aclose())  # as the CLI does: the pool closes after the run's loop ended


def test_agent_adapter_serves_unseen_catalog_items_over_a_simulation() -> None:
    """The offline agent as the recommender under test: real turns, items from the catalog, none seen."""
    data = clustered_dataset()
    config = SimulationConfig(users=6, sessions=2, pages=3, page_size=4, seed=2, recommender="agent")
    run = build_simulation(config, dataset=data)
    assert isinstance(run.recommender, AgentRecommender)
    runner = SimulationRunner(run)
    result = runner.run_sync()
    assert result.user_sessions == 12
    items = runner.items
    assert len(items) > 0
    assert set(items[SimColumns.ITEM]) <= set(CATALOG)
    histories = {u.sim_id: set(u.persona.history) for u in run.population}
    for user, item in zip(items[SimColumns.USER], items[SimColumns.ITEM], strict=True):
        assert item not in histories[user], f"the agent showed {user} an item from their training history"
    per_session = items.groupby([SimColumns.USER, SimColumns.SESSION])[SimColumns.ITEM]
    assert not per_session.apply(lambda s: s.duplicated().any()).any()
