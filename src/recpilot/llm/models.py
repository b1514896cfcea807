"""recpilot's retry policy and request guard for LLM HTTP traffic.

Retrying lives in one HTTP transport (:class:`RetryingTransport`) so it is the same for every server:
timeouts, connection errors, HTTP 408, 429 and 5xx are retried with jittered exponential backoff, a
``Retry-After`` is honoured up to a cap, other 4xx fail at once, and so does an error that refuses the
request's shape (a retry would get the same answer; the output mode steps down instead). The
transport also refuses non-loopback endpoints while :data:`ALLOW_REMOTE_LLM_REQUESTS` is False (tests
switch it off globally). Each attempt is booked in the question's books (:func:`booking`) by the
transport below it that sends it (:class:`~recpilot.llm.ratelimit.RateLimitedTransport`, once the
attempt has its slot), so an attempt that never left its queue costs nothing.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import anyio
import httpx2

from recpilot.llm.errors import LLMRequestRefusedError
from recpilot.llm.modes import rejects_shape
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks

logger = logging.getLogger("recpilot.llm")

ALLOW_REMOTE_LLM_REQUESTS = True
"""Whether LLM requests may leave the machine. Tests set it to False; loopback endpoints always work."""

_NOT_RETRIED_5XX = frozenset({501, 505})  # "not implemented" answers will not change on a retry


@contextmanager
def override_allow_remote_requests(allowed: bool) -> Iterator[None]:
    """Temporarily allow or forbid non-loopback LLM requests (see :data:`ALLOW_REMOTE_LLM_REQUESTS`)."""
    global ALLOW_REMOTE_LLM_REQUESTS
    previous = ALLOW_REMOTE_LLM_REQUESTS
    ALLOW_REMOTE_LLM_REQUESTS = allowed
    try:
        yield
    finally:
        ALLOW_REMOTE_LLM_REQUESTS = previous


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_booking: ContextVar[CallBooks | None] = ContextVar("recpilot_llm_books", default=None)


@contextmanager
def booking(books: CallBooks) -> Iterator[CallBooks]:
    """Count the HTTP attempts and refused requests made in this context in ``books``.

    :meth:`LLMClient.ask <recpilot.llm.client.LLMClient.ask>` books each question's requests this way.
    """
    token = _booking.set(books)
    try:
        yield books
    finally:
        _booking.reset(token)


def current_books() -> CallBooks | None:
    """The books of the question being asked in this context (see :func:`booking`), if any."""
    return _booking.get()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Attributes:
        max_retries: Extra attempts after the first.
        backoff_s: The first delay; it doubles per retry.
        backoff_max_s: The longest delay.
        retry_after_max_s: The longest ``Retry-After`` honoured; longer ones are not retried.
        jitter: The delay is reduced by a random fraction up to this (spreads synchronized clients).
        timeout_stretch_max: A retry after a read timeout gets twice the previous attempt's read
            timeout, up to this many times the configured one (TCP's retransmission-timeout backoff: a
            server slower than the timeout, e.g. a one-slot local one, then answers the retry instead
            of wasting every attempt); 1 keeps the timeout fixed.
    """

    max_retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0
    jitter: float = 0.25
    timeout_stretch_max: float = 4.0

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> RetryPolicy:
        """The policy configured in ``settings``."""
        return cls(
            settings.max_retries, settings.backoff_s, settings.backoff_max_s, settings.retry_after_max_s
        )

    @staticmethod
    def retryable(status: int) -> bool:
        """Whether an HTTP status is worth another attempt (408, 429, 5xx)."""
        return status in (408, 429) or (status >= 500 and status not in _NOT_RETRIED_5XX)

    def backoff(self, retry: int) -> float:
        """The jittered delay before retry number ``retry`` (0-based)."""
        base = min(self.backoff_max_s, self.backoff_s * 2.0**retry)
        return base * (1.0 - self.jitter * random.random())

    def delay(self, retry: int, headers: httpx2.Headers | None) -> float | None:
        """Seconds to wait before retry ``retry``, or None when the server asks for more than the cap."""
        asked = retry_after_seconds(headers) if headers is not None else None
        if asked is None:
            return self.backoff(retry)
        if asked > self.retry_after_max_s:
            return None
        return max(asked, 0.0)


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The wait a response asks for (``retry-after-ms``, ``retry-after`` seconds or HTTP date), if any."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if scale == 1.0 else None
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return seconds
    return None


class RetryingTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport that retries transient failures under a :class:`RetryPolicy` and guards the endpoint.

    Args:
        inner: The transport that sends requests.
        policy: When to retry and how long to wait.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request``, retrying timeouts, connection drops, 408, 429 and 5xx within the policy."""
        books = _booking.get() or CallBooks()
        host = request.url.host
        if not ALLOW_REMOTE_LLM_REQUESTS and not is_loopback_host(host):
            books.refused += 1
            raise LLMRequestRefusedError(f"{request.url.scheme}://{host}{request.url.path}")
        await request.aread()  # the body must be replayable for retries
        last = self._policy.max_retries
        timeouts = dict(request.extensions.get("timeout") or {})
        stretch = 1.0
        for retry in range(last + 1):
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
                if retry == last:
                    raise
                if isinstance(exc, httpx2.ReadTimeout) and timeouts.get("read"):
                    stretch = min(2.0 * stretch, max(1.0, self._policy.timeout_stretch_max))
                    request.extensions["timeout"] = {**timeouts, "read": timeouts["read"] * stretch}
                wait = self._policy.backoff(retry)
                logger.warning(
                    "LLM request %s (%s); retry %d in %.2fs", type(exc).__name__, host, retry + 1, wait
                )
                await anyio.sleep(wait)
                continue
            if response.status_code < 400:
                return response
            if retry == last or not self._policy.retryable(response.status_code):
                return response
            if rejects_shape(response.status_code, (await response.aread()).decode(errors="replace")):
                return response  # the request's shape is refused: a retry gets the same answer
            wait_or_none = self._policy.delay(retry, response.headers)
            if wait_or_none is None:
                logger.warning("LLM endpoint asked to wait longer than the cap; not retrying")
                return response
            await response.aread()
            await response.aclose()
            logger.warning(
                "LLM request got HTTP %d; retry %d in %.2fs", response.status_code, retry + 1, wait_or_none
            )
            await anyio.sleep(wait_or_none)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
