"""Chat turns as server-sent events sent as they happen; a client leaving mid-stream never leaves half
a turn, and a turn failing mid-stream ends with an error event."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import pytest
import uvicorn
from api_support import Tenant
from fastapi.testclient import TestClient

from recpilot.agent.brain import Act, ToolRunner, Turn
from recpilot.agent.offline import OfflineBrain
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


@contextmanager
def _serving(service: RecommenderService) -> Iterator[str]:
    """The app over ``service`` served by uvicorn on a free loopback port, in a thread."""
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(service: RecommenderService) -> Iterator[str]:
    """The session's service served on loopback."""
    with _serving(service) as url:
        yield url


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


class _HeldBrain(OfflineBrain):
    """Reads the user's profile, then holds the turn until the test releases it (a slow model)."""

    def __init__(self, released: threading.Event) -> None:
        super().__init__()
        self.released = released

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        tools.call("user_profile", {})
        self.released.wait(timeout=30)  # blocks the turn's thread, as a synchronous tool would
        return await super().act(turn, tools)


def test_the_first_event_reaches_the_client_before_the_turn_ends(
    service: RecommenderService, tenant: Tenant
) -> None:
    released = threading.Event()
    held = RecommenderService(service.runtime, brain=_HeldBrain(released))
    with _serving(held) as url, httpx.Client(base_url=url, headers=tenant.headers, timeout=30) as http:
        sid = http.post("/v1/sessions", json={"user_id": "early"}).json()["session_id"]
        with http.stream(
            "POST", f"/v1/sessions/{sid}/messages/stream", json={"content": "comedies from the 90s"}
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            first = _events("\n".join(itertools.takewhile(bool, lines)) + "\n\n")
            # The turn is still held: nothing is stored yet, and its first event is already here.
            assert not released.is_set()
            assert held.history(tenant.tenant_id, sid).messages == []
            assert [(kind, json.loads(data)["kind"]) for kind, data in first] == [("step", "tool_call")]
            assert json.loads(first[0][1])["tool"] == "user_profile"
            released.set()
            rest = _events("\n".join(lines))
    kinds = [kind for kind, _ in rest]
    result = json.loads(rest[0][1])
    assert (result["kind"], result["step"]["name"], result["step"]["ok"]) == (
        "tool_result",
        "user_profile",
        True,
    )
    assert "item" in kinds
    assert kinds[-2:] == ["reply", "done"]
    assert not json.loads(rest[-2][1])["degraded"]
    assert len(held.history(tenant.tenant_id, sid).messages) == 2


def test_a_turn_failing_mid_stream_ends_with_an_error_event_and_no_traceback(
    client: TestClient, service: RecommenderService, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object) -> None:
        raise OSError("disk on fire at /var/secret")

    monkeypatch.setattr(service.memory(tenant.tenant_id), "append_turn", down)
    sid = client.post("/v1/sessions", json={"user_id": "unlucky"}, headers=tenant.headers).json()[
        "session_id"
    ]
    with client.stream(
        "POST",
        f"/v1/sessions/{sid}/messages/stream",
        json={"content": "I loved Toy Story"},
        headers=tenant.headers,
    ) as response:
        assert response.status_code == 200
        body = response.read().decode()
    events = _events(body)
    kinds = [kind for kind, _ in events]
    assert "step" in kinds
    assert kinds[-1] == "error"
    assert not {"item", "reply", "done"} & set(kinds), "a failed turn shows no item"
    assert json.loads(events[-1][1]) == {"detail": "internal error; the server log has the details"}
    assert "Traceback" not in body
    assert "/var/secret" not in body
    monkeypatch.undo()
    assert client.get(f"/v1/sessions/{sid}/messages", headers=tenant.headers).json()["messages"] == []
    assert service.profile(tenant.tenant_id, "unlucky").preferences == [], "its write was undone"
