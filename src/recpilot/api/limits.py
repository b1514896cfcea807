"""Request limits: a body-size guard (HTTP 413) and per-key token buckets (HTTP 429 with Retry-After)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyTooLargeError(Exception):
    """Raised from ``receive`` when the body passes the limit (caught by the middleware)."""


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 and a message naming the limit.

    Declared sizes (``Content-Length``) are refused before reading; chunked bodies are counted as
    they arrive and refused as soon as they pass the limit.

    Args:
        app: The wrapped ASGI app.
        max_bytes: The largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "the Content-Length header is not a number")
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._message(declared))
                    return
        received = 0
        started = False
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # The app may have turned the aborted read into its own error: answer 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send, 413, self._message(received))
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLargeError:
            if not started:
                await self._refuse(send, 413, self._message(received))

    def _message(self, size: int) -> str:
        return (
            f"request body too large: {size} bytes or more, over this server's limit of "
            f"{self.max_bytes} bytes (limits.max_body_bytes)"
        )

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """One token bucket per API key: ``burst`` requests at once, refilled at ``rate_per_s``.

    The buckets live in this process: with several server processes each enforces the limit on its
    own share of the traffic.

    Args:
        rate_per_s: Tokens added per second.
        burst: Bucket size.
        clock: Seconds from a monotonic clock (tests pass one they move by hand, so what a bucket
            holds never depends on how fast the machine runs).
    """

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate_per_s

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """The ``Retry-After`` header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait_s)))
