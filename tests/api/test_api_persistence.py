"""Nothing is lost on restart, and concurrent writers for one user store everything exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from api_support import Tenant, make_service
from fastapi.testclient import TestClient

from recpilot.api import create_app
from recpilot.service import RecommenderService


def test_restart_keeps_keys_sessions_feedback_and_memory(api_home: Path, store_url: str) -> None:
    first = make_service(api_home, store_url)
    issued = first.create_api_key("restart-tenant")
    h = {"Authorization": f"Bearer {issued.key}"}
    with TestClient(create_app(service=first)) as client:
        sid = client.post("/v1/sessions", json={"user_id": "rita"}, headers=h).json()["session_id"]
        reply = client.post(
            f"/v1/sessions/{sid}/messages", json={"content": "space adventures"}, headers=h
        ).json()
        client.post(
            "/v1/feedback",
            json={"user_id": "rita", "item_id": 1, "event": "like", "event_id": "r1"},
            headers=h,
        )
        before = client.get("/v1/users/rita/profile", headers=h).json()
    first.close()

    second = make_service(api_home, store_url)
    try:
        with TestClient(create_app(service=second)) as client:
            history = client.get(f"/v1/sessions/{sid}/messages", headers=h)
            assert history.status_code == 200  # the key and the session's ownership survived
            assert [m["content"] for m in history.json()["messages"]] == ["space adventures", reply["reply"]]
            assert client.get("/v1/users/rita/profile", headers=h).json() == before
            again = {"user_id": "rita", "item_id": 1, "event": "like", "event_id": "r1"}
            assert client.post("/v1/feedback", json=again, headers=h).json()["duplicate"] is True
        assert len(second.feedback_events("restart-tenant", "rita")) == 1
    finally:
        second.close()


def test_concurrent_likes_for_one_user_are_stored_once(
    client: TestClient, service: RecommenderService, tenant: Tenant
) -> None:
    items = service.runtime.catalog.dataset.items.external_ids.tolist()[:24]
    events = [{"user_id": "crowd", "item_id": item, "event": "like"} for item in items]
    # Every like is sent twice at once (the second with the same event id), plus one shared item many times.
    requests = [{**event, "event_id": f"like-{event['item_id']}"} for event in events for _ in range(2)] + [
        {"user_id": "crowd", "item_id": items[0], "event": "like"} for _ in range(8)
    ]

    def send(body: dict[str, object]) -> int:
        return client.post("/v1/feedback", json=body, headers=tenant.headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, requests))
    assert statuses == [202] * len(requests)
    stored = service.feedback_events(tenant.tenant_id, "crowd")
    with_ids = [e for e in stored if e["event_id"] is not None]
    assert sorted(e["event_id"] for e in with_ids) == sorted(f"like-{i}" for i in items)
    assert len(stored) == len(items) + 8
    profile = client.get("/v1/users/crowd/profile", headers=tenant.headers).json()
    liked = [p["value"] for p in profile["preferences"] if p["kind"] == "like_item"]
    assert sorted(liked) == sorted(str(i) for i in items)  # one preference per item, none lost
