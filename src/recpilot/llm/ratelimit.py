"""Talking to an LLM endpoint at population scale: bounded concurrency, a request rate and retries.

A simulation of thousands of users sends thousands of requests; providers answer an overload with
HTTP 429. :class:`RateLimiter` keeps at most ``max_concurrency`` requests in flight and starts at most
``requests_per_s`` per second (a token bucket holding up to ``burst`` tokens). :class:`RateLimitedTransport`
applies it to every HTTP attempt, below recpilot's :class:`~recpilot.llm.models.RetryingTransport`
(which retries 408, 429, 5xx, timeouts and dropped connections with jittered exponential backoff), so
each retry waits for a token too and a backoff sleep never holds a concurrency slot.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict, Field

from recpilot.errors import ConfigError


class RateLimitConfig(BaseModel):
    """How hard the simulation may press an LLM endpoint.

    Attributes:
        max_concurrency: Requests in flight at most.
        requests_per_s: Requests started per second at most (None: no rate limit).
        burst: Requests that may start at once after an idle spell (the bucket's size); defaults to
            one second's worth of tokens.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(default=16, ge=1)
    requests_per_s: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``capacity`` stored (starts full).

    Waiters are served first come, first served: a lock serialises them, so the bucket never hands
    out more than ``capacity + rate * elapsed`` tokens.

    Args:
        rate: Tokens added per second.
        capacity: The most tokens the bucket holds.
    """

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ConfigError(f"a token bucket needs rate > 0 and capacity >= 1, got {rate} and {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._updated = time.monotonic()
        self._lock = anyio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Take one token, waiting until one is available."""
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await anyio.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0


class RateLimiter:
    """Bounded concurrency plus an optional token-bucket rate, shared by every request of a run.

    Args:
        config: The limits.

    Attributes:
        in_flight: Requests holding a slot now.
        peak_in_flight: The most requests that held a slot at once (for tests and reports).
        started: Requests that got a slot so far.
    """

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig()
        self._slots = anyio.Semaphore(self.config.max_concurrency)
        rate = self.config.requests_per_s
        self._bucket = (
            TokenBucket(rate, float(self.config.burst or max(1, round(rate)))) if rate is not None else None
        )
        self.in_flight = 0
        self.peak_in_flight = 0
        self.started = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot: waits for a free slot, then for a token of the rate."""
        async with self._slots:
            if self._bucket is not None:
                await self._bucket.acquire()
            self.in_flight += 1
            self.started += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1


async def buffered(response: httpx2.Response, request: httpx2.Request) -> httpx2.Response:
    """``response`` with its body read off the network (still encoded as sent), the connection released."""
    if isinstance(response.stream, httpx2.ByteStream):  # read already (e.g. by a sharded pool)
        return response
    try:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return httpx2.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx2.ByteStream(raw),
        request=request,
        extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
    )


class RateLimitedTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport that sends each request under a :class:`RateLimiter`.

    The slot is held until the response body has been read, so ``max_concurrency`` bounds the
    requests the server is actually working on.

    Args:
        inner: The transport that sends requests.
        limiter: The shared limiter.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Wait for a slot and a token, send ``request`` and read the whole answer."""
        async with self._limiter.slot():
            response = await self._inner.handle_async_request(request)
            return await buffered(response, request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


__all__ = ["RateLimitConfig", "RateLimitedTransport", "RateLimiter", "TokenBucket", "buffered"]
