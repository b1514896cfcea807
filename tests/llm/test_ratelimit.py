"""The rate limiter keeps its rate and its concurrency bound; over HTTP every retry waits for a token."""

from __future__ import annotations

import asyncio
import time

import anyio
import httpx2
import pytest

from recpilot.errors import ConfigError
from recpilot.llm.models import RetryingTransport, RetryPolicy
from recpilot.llm.ratelimit import RateLimitConfig, RateLimitedTransport, RateLimiter, TokenBucket
from recpilot.testing.llm_server import ScriptedLLMServer, reply_error, reply_text


async def _hammer(limiter: RateLimiter, n: int, hold_s: float) -> list[float]:
    starts: list[float] = []

    async def one() -> None:
        async with limiter.slot():
            starts.append(time.monotonic())
            await anyio.sleep(hold_s)

    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(one)
    return starts


def test_rate_is_respected() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=50, requests_per_s=50.0, burst=1))
    starts = asyncio.run(_hammer(limiter, 21, 0.0))
    elapsed = max(starts) - min(starts)
    assert elapsed >= 20 / 50 * 0.95  # 20 gaps of 1/50 s after the first token
    assert elapsed < 20 / 50 * 3  # and not absurdly slow on a busy machine


def test_burst_then_rate() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=50, requests_per_s=10.0, burst=5))
    starts = sorted(asyncio.run(_hammer(limiter, 7, 0.0)))
    assert starts[4] - starts[0] < 0.05  # the bucket starts full
    assert starts[6] - starts[0] >= 2 / 10 * 0.95


def test_concurrency_is_bounded() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=4))
    asyncio.run(_hammer(limiter, 30, 0.01))
    assert limiter.peak_in_flight == 4
    assert limiter.started == 30
    assert limiter.in_flight == 0


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="rate > 0"):
        TokenBucket(0.0, 1.0)


def test_every_http_attempt_takes_a_slot_and_429_is_retried() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=2, requests_per_s=100.0))

    async def send(url: str) -> int:
        transport = RetryingTransport(
            RateLimitedTransport(httpx2.AsyncHTTPTransport(), limiter),
            RetryPolicy(max_retries=2, backoff_s=0.01),
        )
        async with httpx2.AsyncClient(transport=transport) as client:
            response = await client.post(f"{url}/chat/completions", json={"model": "m"})
            return response.status_code

    with ScriptedLLMServer([reply_error(429, retry_after=0.01), reply_text("ok")]) as server:
        status = asyncio.run(send(server.base_url))
    assert status == 200
    assert limiter.started == 2
    assert len(server.chat_requests) == 2
