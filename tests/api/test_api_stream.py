"""Chat turns as server-sent events, and a client leaving mid-stream never leaves half a turn."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
import uvicorn
from api_support import Tenant
from fastapi.testclient import TestClient

from recpilot.api import create_app
from recpilot.service import RecommenderService


def _events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "event" in fields:
            events.append((fields["event"], fields.get("data", "")))
    return events


@pytest.mark.parametrize("route", ["/messages/stream", "/messages"])
def test_stream_events_in_order_and_turn_stored(client: TestClient, tenant: Tenant, route: str) -> None:
    sid = client.post("/v1/sessions", json={"user_id": "sse"}, headers=tenant.headers).json()["session_id"]
    headers = {**tenant.headers, "Accept": "text/event-stream"}
    with client.stream(
        "POST", f"/v1/sessions/{sid}{route}", json={"content": "thrillers from the 90s"}, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["reply", "done"]
    assert kinds.index("item") > kinds.index("step")
    items = [json.loads(data) for kind, data in events if kind == "item"]
    assert items
    assert all(1990 <= item["attributes"]["year"] <= 1999 for item in items)
    reply = json.loads(events[-2][1])
    history = client.get(f"/v1/sessions/{sid}/messages", headers=tenant.headers).json()["messages"]
    assert [m["content"] for m in history] == ["thrillers from the 90s", reply["reply"]]


def test_stream_unknown_session_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/v1/sessions/nope/messages/stream", json={"content": "hi"}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


@pytest.fixture(scope="module")
def live_server(service: RecommenderService) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service=service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_client_disconnect_mid_stream_leaves_a_whole_turn(
    live_server: str, service: RecommenderService, tenant: Tenant
) -> None:
    with httpx.Client(base_url=live_server, headers=tenant.headers, timeout=30) as http:
        sid = http.post("/v1/sessions", json={"user_id": "leaver"}).json()["session_id"]
        for message in ("sci-fi classics", "something lighter"):
            with http.stream(
                "POST", f"/v1/sessions/{sid}/messages/stream", json={"content": message}
            ) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        break  # hang up after the first event
        deadline = time.monotonic() + 20
        while True:
            messages = http.get(f"/v1/sessions/{sid}/messages").json()["messages"]
            if len(messages) == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert [m["content"] for m in messages[::2]] == ["sci-fi classics", "something lighter"]
        # The session still works after the hang-ups.
        follow = http.post(f"/v1/sessions/{sid}/messages", json={"content": "comedies"})
        assert follow.status_code == 200
        assert len(http.get(f"/v1/sessions/{sid}/messages").json()["messages"]) == 6
