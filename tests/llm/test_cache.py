"""Record/replay of LLM calls: a replayed run makes the same decisions with the server gone, a miss in
replay mode is a clear error, the key covers the whole request and nothing else."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from recpilot.llm import LLMSettings
from recpilot.llm.cache import (
    CacheMissError,
    CachingTransport,
    LLMCache,
    LLMCacheConfig,
    request_key,
)
from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
from recpilot.simulation.types import Page, PageDecision, Persona, ShownItem, UserState
from recpilot.testing.llm_server import ScriptedLLMServer, reply_error, reply_output

PERSONA = Persona(
    user_id="7", activity=0.5, conformity=0.5, diversity=0.5, rating_mean=3.0, rating_std=1.0, description="x"
)


def page(index: int) -> Page:
    ids = [f"{index}{k}" for k in range(3)]
    return Page(session=0, index=index, items=[ShownItem(item_id=i, position=p) for p, i in enumerate(ids)])


def answer_for(index: int) -> dict[str, Any]:
    return {
        "clicked": [{"item_id": f"{index}{index % 3}", "rating": 1.0 + index}],
        "satisfaction": 0.1 * index,
    }


async def run_pages(engine: LLMDecisionEngine, n: int) -> list[PageDecision]:
    try:
        return [await engine.adecide(PERSONA, UserState(), page(i)) for i in range(n)]
    finally:
        await engine.aclose()


def engine_for(url: str, path: Path, mode: str) -> LLMDecisionEngine:
    settings = LLMSettings(base_url=url, model="sim", timeout_s=1.0, backoff_s=0.01, max_retries=0)
    cache = LLMCacheConfig(path=str(path), mode=mode)  # type: ignore[arg-type]
    return LLMDecisionEngine(settings, LLMEngineConfig(cache=cache))


def test_record_then_replay_with_the_server_stopped(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "llm.sqlite"
    with ScriptedLLMServer([reply_output(answer_for(i)) for i in range(3)]) as server:
        url = server.base_url
        recorder = engine_for(url, cache_file, "auto")
        recorded = asyncio.run(run_pages(recorder, 3))
    assert len(server.chat_requests) == 3
    assert recorder.cache is not None
    assert recorder.cache.misses == 3
    assert [d.satisfaction for d in recorded] == pytest.approx([0.0, 0.1, 0.2])

    replayer = engine_for(url, cache_file, "replay")  # the server is gone: answers come from disk
    replayed = asyncio.run(run_pages(replayer, 3))
    assert replayed == recorded
    assert replayer.cache is not None
    assert (replayer.cache.hits, replayer.cache.misses) == (3, 0)
    assert replayer.stats.failures == 0
    copy = pickle.loads(pickle.dumps(replayer))  # as shipped to a Ray worker
    assert asyncio.run(run_pages(copy, 3)) == recorded


def test_a_miss_in_replay_mode_names_the_key(tmp_path: Path) -> None:
    engine = engine_for("http://127.0.0.1:9/v1", tmp_path / "empty.sqlite", "replay")
    with pytest.raises(CacheMissError) as caught:
        asyncio.run(run_pages(engine, 1))
    message = str(caught.value)
    assert caught.value.key in message
    assert len(caught.value.key) == 64
    assert "replay mode" in message
    assert "empty.sqlite" in message
    assert "'sim'" in message


def test_key_is_the_canonical_body_without_host_or_headers() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    reordered = json.dumps(dict(reversed(list(body.items())))).encode()
    key, _ = request_key("POST", "/v1/chat/completions", json.dumps(body).encode())
    assert request_key("post", "/v1/chat/completions", reordered)[0] == key
    changes: list[dict[str, Any]] = [{"temperature": 0.3}, {"model": "other"}, {"tools": []}]
    for changed in changes:
        assert request_key("POST", "/v1/chat/completions", json.dumps({**body, **changed}).encode())[0] != key
    assert request_key("POST", "/v2/chat/completions", json.dumps(body).encode())[0] != key


class _Counting:
    """An inner transport answering each request after a short wait, counting calls."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        self.status = status

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        n = self.calls
        await anyio.sleep(0.05)
        return httpx2.Response(self.status, json={"n": n, "echo": json.loads(request.content)})


class _AsyncMock(httpx2.AsyncBaseTransport):
    def __init__(self, handler: _Counting) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.handler(request)


async def _post_many(transport: CachingTransport, bodies: list[dict[str, Any]], host: str) -> list[Any]:
    async with httpx2.AsyncClient(transport=transport, base_url=host) as client:
        responses = await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))
    return [r.json() for r in responses]


def test_identical_concurrent_requests_share_one_answer(tmp_path: Path) -> None:
    inner = _Counting()
    cache = LLMCache(LLMCacheConfig(path=str(tmp_path / "c.sqlite"), mode="record"))
    bodies = [{"q": 1}] * 5 + [{"q": 2}]
    answers = asyncio.run(_post_many(CachingTransport(_AsyncMock(inner), cache), bodies, "http://a"))
    assert inner.calls == 2
    assert len({a["n"] for a in answers[:5]}) == 1
    assert answers[5]["n"] != answers[0]["n"]
    # another host, same request: replayed; record mode refreshes each entry once per run
    again = asyncio.run(_post_many(CachingTransport(_AsyncMock(inner), cache), [{"q": 1}] * 2, "http://b"))
    assert inner.calls == 3
    assert again[0] == again[1]
    assert again[0]["n"] == 3
    assert len(cache) == 2


def test_errors_are_not_stored(tmp_path: Path) -> None:
    inner = _Counting(status=503)
    cache = LLMCache(LLMCacheConfig(path=str(tmp_path / "c.sqlite"), mode="auto"))
    asyncio.run(_post_many(CachingTransport(_AsyncMock(inner), cache), [{"q": 1}], "http://a"))
    asyncio.run(_post_many(CachingTransport(_AsyncMock(inner), cache), [{"q": 1}], "http://a"))
    assert inner.calls == 2
    assert len(cache) == 0


def test_a_failed_recording_then_replay_is_not_silently_different(tmp_path: Path) -> None:
    cache_file = tmp_path / "llm.sqlite"
    with ScriptedLLMServer([reply_error(400)] * 2 + [reply_output(answer_for(1))]) as server:
        url = server.base_url
        recorded = asyncio.run(run_pages(engine_for(url, cache_file, "auto"), 2))
    assert [a.kind for a in recorded[0].actions] == ["skip"] * 3  # the failed page got the fallback
    with pytest.raises(CacheMissError):  # replay cannot reproduce a failure it never stored
        asyncio.run(run_pages(engine_for(url, cache_file, "replay"), 1))
