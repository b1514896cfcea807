"""Limits and operations: body size, rate limits, malformed input, health, readiness, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2 as httpx
from api_support import Tenant
from fastapi.testclient import TestClient

from recpilot.api import create_app
from recpilot.service import LimitsConfig, RecommenderService, ServiceConfig


def test_oversized_body_is_413_naming_the_limit(client: TestClient, tenant: Tenant) -> None:
    huge = {"history": [1] * 40_000}
    response = client.post("/v1/recommend", json=huge, headers=tenant.headers)
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


def test_chunked_oversized_body_is_413(client: TestClient, tenant: Tenant) -> None:
    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(100):
            yield b" " * 1024

    response = client.post(
        "/v1/feedback", content=chunks(), headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code == 413


def test_malformed_json_and_wrong_types_name_the_field(client: TestClient, tenant: Tenant) -> None:
    h = {**tenant.headers, "content-type": "application/json"}
    broken = client.post("/v1/recommend", content=b'{"k": 3,', headers=h)
    assert broken.status_code == 422
    assert "malformed JSON" in broken.json()["detail"]
    wrong = client.post(
        "/v1/feedback",
        json={"user_id": 5, "item_id": 1, "event": "like", "value": "x"},
        headers=tenant.headers,
    )
    assert wrong.status_code == 422
    assert "body.user_id" in wrong.json()["detail"]
    assert "body.value" in wrong.json()["detail"]
    extra = client.post("/v1/recommend", json={"k": 3, "colour": "red"}, headers=tenant.headers)
    assert extra.status_code == 422
    assert "body.colour" in extra.json()["detail"]


class _HandClock:
    """A monotonic clock that moves only when the test says (the limiter's ``clock``)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_gives_429_with_retry_after(
    service: RecommenderService, tenant: Tenant, other_tenant: Tenant
) -> None:
    config = ServiceConfig(limits=LimitsConfig(rate_per_s=0.5, burst=3))
    app = create_app(config, service=service)
    clock = _HandClock()  # however long the requests take, no token comes back until the clock moves
    app.state.rate_limiter.clock = clock
    with TestClient(app) as limited:

        def recommend(who: Tenant) -> Any:
            return limited.post("/v1/recommend", json={"k": 1}, headers=who.headers)

        assert [recommend(tenant).status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = recommend(tenant)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"  # an empty bucket refills one token in 2 s
        assert "rate limit of 0.5 requests/s" in refused.json()["detail"]
        # Buckets are per key: another key is unaffected.
        assert recommend(other_tenant).status_code == 200
        clock.now += 1.0  # half a token
        half = recommend(tenant)
        assert (half.status_code, half.headers["retry-after"]) == (429, "1")
        clock.now += 1.0  # a whole token: one more request, then refused again
        assert [recommend(tenant).status_code for _ in range(2)] == [200, 429]


def test_health_readiness_and_metrics(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert set(ready.json()["models"]) == {"collaborative", "content"}
    sid = client.post("/v1/sessions", json={"user_id": "m"}, headers=tenant.headers).json()["session_id"]
    client.post(f"/v1/sessions/{sid}/messages", json={"content": "comedies"}, headers=tenant.headers)
    client.get("/v1/sessions/unknown/messages", headers=tenant.headers)
    text = client.get("/metrics").text
    assert (
        'recpilot_http_requests_total{method="POST",route="/v1/sessions/{session_id}/messages",status="200"}'
        in text
    )
    assert 'route="/v1/sessions/{session_id}/messages",status="404"' in text
    assert "recpilot_http_request_seconds_bucket" in text
    turns = [line for line in text.splitlines() if line.startswith("recpilot_agent_turn_seconds_count")]
    assert turns
    assert float(turns[0].split()[-1]) >= 1


def test_readiness_fails_without_models(service: RecommenderService) -> None:
    from recpilot.agent.runtime import AgentRuntime

    runtime = service.runtime
    app = create_app(service=service)
    with TestClient(app) as started:
        original = runtime.models
        try:
            service.runtime = AgentRuntime(runtime.catalog, {}, runtime.memory)
            response = started.get("/readyz")
        finally:
            service.runtime = runtime
        assert original is runtime.models
    assert response.status_code == 503
    assert response.json()["detail"] == "no fitted model loaded"


def test_page_config_only_on_loopback(service: RecommenderService) -> None:
    app = create_app(service=service, page_api_key="rp_page_key")

    async def fetch(client_host: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_host, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            return await http.get("/config.json")

    local = asyncio.run(fetch("127.0.0.1"))
    assert local.status_code == 200
    assert local.json() == {"api_key": "rp_page_key", "api_base": "/v1"}
    assert asyncio.run(fetch("203.0.113.9")).status_code == 404
