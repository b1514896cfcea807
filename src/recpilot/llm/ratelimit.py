"""Talking to an LLM endpoint at population scale: bounded concurrency, a request rate and retries.

A simulation of thousands of users sends thousands of requests; providers answer an overload with
HTTP 429. :class:`RateLimiter` keeps at most ``max_concurrency`` requests in flight and starts at most
``requests_per_s`` per second (a token bucket holding up to ``burst`` tokens). :class:`RateLimitedTransport`
applies it to every HTTP attempt, below recpilot's :class:`~recpilot.llm.models.RetryingTransport`
(which retries 408, 429, 5xx, timeouts and dropped connections with jittered exponential backoff), so
each retry waits for a token too and a backoff sleep never holds a concurrency slot.

With ``adaptive`` (the default) the limit on requests in flight per endpoint is found, not assumed,
in the manner of TCP congestion control (AIMD, as in Netflix's concurrency-limits): it starts at
``start_concurrency`` and doubles per round of answers (slow start) while they come in time; after the
first sign of a queue it grows by one per round while latency holds, and holds when it does not. "In
time" is judged against a baseline that is recent and robust: the 10th percentile of the last
``baseline_window`` unqueued answers, so one unusually fast answer neither sets it nor stops growth for
good. An answer counts as unqueued when it came within ``latency_tolerance`` times the baseline, or
when its request went out alone (it cannot have waited behind ours): the baseline follows a server
that became faster at once, and one that became slower through requests sent alone, but never drifts
up with the queue our own requests build. Each answer is checked as it comes: one slower than
``latency_tolerance`` times the baseline starts the round over (the second of two requests sent to a
one-slot server waits for the first, so the limit never grows past two there), and a smoothed latency
above it ends slow start. A timeout, an HTTP 429 or a 503 ("busy") cuts the limit multiplicatively
(``backoff_ratio``), down to 1. It never grows past ``max_concurrency``, nor while the smoothed
latency, scaled by the grown limit, would pass half the HTTP timeout. A request that timed out keeps
its slot a while longer (the server is most likely still computing the abandoned answer, and a retry
sent at once would only queue behind it). Every change is logged in :attr:`RateLimiter.changes` and
counted in the books of the call whose answer caused it
(:attr:`~recpilot.llm.structured.CallBooks.limit_cuts`). An HTTP attempt is booked
(:attr:`~recpilot.llm.structured.CallBooks.attempts`) when it gets its slot and goes out, and its
latency is measured from then: time spent waiting for a slot or a token is neither. What the limit
has learned (:class:`~recpilot.llm.adaptive.LearnedLimit`) outlives a limiter: an
:class:`~recpilot.llm.client.LLMClient` keeps it for its endpoint and model, and each connection's
limiter goes on from it.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict, Field

from recpilot.errors import ConfigError
from recpilot.llm.adaptive import LearnedLimit, LimitChange
from recpilot.llm.models import current_books


class RateLimitConfig(BaseModel):
    """How hard LLM traffic may press an endpoint.

    Attributes:
        max_concurrency: Requests in flight at most (the adaptive limit's ceiling).
        requests_per_s: Requests started per second at most (None: no rate limit).
        burst: Requests that may start at once after an idle spell (the bucket's size); defaults to
            one second's worth of tokens.
        adaptive: Find the concurrency the server sustains (see the module docstring).
        start_concurrency: The first limit when adaptive.
        backoff_ratio: What a timeout, 429 or 503 multiplies the limit by (rounded down, at least 1).
        latency_tolerance: An answer slower than this many times the baseline starts the round of
            answers that grows the limit over; a smoothed latency above it ends slow start (the server
            queues requests instead of serving them side by side).
        baseline_window: The answers the latency baseline is taken over (their 10th percentile).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(default=16, ge=1)
    requests_per_s: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    adaptive: bool = True
    start_concurrency: int = Field(default=2, ge=1)
    backoff_ratio: float = Field(default=0.5, gt=0, lt=1)
    latency_tolerance: float = Field(default=1.5, ge=1)
    baseline_window: int = Field(default=100, ge=1)


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
    """Bounded, adaptive concurrency and an optional token-bucket rate, shared by an endpoint's requests.

    Args:
        config: The limits.
        timeout_s: The HTTP timeout of one attempt: the limit does not grow to where the smoothed
            latency, were the server to queue the extra requests, would pass half of it (None: no bound).
        learned: The limit learned so far, shared with the endpoint's other limiters (an
            :class:`~recpilot.llm.client.LLMClient` keeps one for its life); None: a new one, from
            ``start_concurrency`` (its ``timeout_s`` then wins over the argument).

    Attributes:
        learned: What the limit has learned (the limit, its baseline and its changes).
        limit: Requests allowed in flight now (``max_concurrency`` when not adaptive).
        in_flight: Requests holding a slot now (not counting timed-out ones whose slot is still
            occupied; see :meth:`drain_s`).
        peak_in_flight: The most requests that held a slot at once (for tests and reports).
        started: Requests that got a slot so far.
    """

    def __init__(
        self,
        config: RateLimitConfig | None = None,
        *,
        timeout_s: float | None = None,
        learned: LearnedLimit | None = None,
    ) -> None:
        self.config = config or RateLimitConfig()
        self.learned = learned if learned is not None else LearnedLimit(self.config, timeout_s=timeout_s)
        self.timeout_s = self.learned.timeout_s
        self._free = anyio.Condition()
        rate = self.config.requests_per_s
        self._bucket = (
            TokenBucket(rate, float(self.config.burst or max(1, round(rate)))) if rate is not None else None
        )
        self.in_flight = 0
        self.peak_in_flight = 0
        self.started = 0
        self._ghosts_until: list[float] = []  # when the slots of timed-out requests free up, sorted

    @property
    def limit(self) -> int:
        """Requests allowed in flight now (the learned limit)."""
        return self.learned.limit

    @property
    def lowest_limit(self) -> int:
        """The lowest limit so far."""
        return self.learned.lowest_limit

    @property
    def cuts(self) -> int:
        """Times the limit was cut (timeouts, 429, 503)."""
        return self.learned.cuts

    @property
    def raises(self) -> int:
        """Times the limit grew."""
        return self.learned.raises

    @property
    def changes(self) -> deque[LimitChange]:
        """The latest changes of the limit, oldest first (at most 1,000 kept)."""
        return self.learned.changes

    @property
    def baseline_s(self) -> float | None:
        """The latency of an unqueued answer (see :attr:`LearnedLimit.baseline_s`)."""
        return self.learned.baseline_s

    def record(
        self, seconds: float, overloaded: bool, *, busy: bool = False, alone: bool = False
    ) -> LimitChange | None:
        """Adapt the limit to one answer (see :meth:`LearnedLimit.record`)."""
        return self.learned.record(seconds, overloaded, busy=busy, alone=alone)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Hold one request slot: waits for a free slot, then for a token of the rate.

        Setting the yielded :attr:`Slot.hold_s` leaves the slot occupied that many seconds after the
        body ends (a "ghost": the caller goes on at once, the next request waits).
        """
        async with self._free:
            while self.in_flight + self._ghosts() >= self.limit:
                # A ghost ends without a notification: wake up when the next one does.
                with anyio.move_on_after(
                    self._ghosts_until[0] - time.monotonic() if self._ghosts_until else None
                ):
                    await self._free.wait()
            self.in_flight += 1
            held = Slot(alone=self.in_flight + len(self._ghosts_until) == 1)
        try:
            if self._bucket is not None:
                await self._bucket.acquire()
            self.started += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight + self._ghosts())
            yield held
        finally:
            with anyio.CancelScope(shield=True):  # the count must come back even when cancelled
                async with self._free:
                    self.in_flight -= 1
                    if held.hold_s > 0:
                        bisect.insort(self._ghosts_until, time.monotonic() + held.hold_s)
                    self._free.notify(max(1, self.limit - self.in_flight - self._ghosts()))

    def _ghosts(self) -> int:
        """Slots still occupied by timed-out requests (expired ones dropped)."""
        now = time.monotonic()
        while self._ghosts_until and self._ghosts_until[0] <= now:
            self._ghosts_until.pop(0)
        return len(self._ghosts_until)

    def drain_s(self, waited_s: float) -> float:
        """How long a request that timed out after ``waited_s`` keeps its slot.

        The server is most likely still working on the abandoned request: for about one unloaded
        answer's time (:attr:`baseline_s`), or as long as it waited when none has come yet. Not adaptive:
        released at once (a fixed limit is the caller's choice, e.g. the one-at-a-time probes of
        ``recpilot llm check``).
        """
        if not self.config.adaptive:
            return 0.0
        baseline = self.baseline_s
        return waited_s if baseline is None else min(baseline, waited_s)


@dataclass
class Slot:
    """A held request slot (see :meth:`RateLimiter.slot`).

    Attributes:
        hold_s: Seconds the slot stays occupied after its request ends (0: freed at once).
        alone: No other request held a slot (or a timed-out one's) when this one got it.
    """

    hold_s: float = 0.0
    alone: bool = False


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


#: Answers that mean "the server is busy": they cut the concurrency limit.
_BUSY = frozenset({429, 503})


def _book(change: LimitChange | None) -> None:
    books = current_books()
    if change is not None and change.new < change.old and books is not None:
        books.limit_cuts += 1


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
        """Wait for a slot and a token, send ``request`` and read the whole answer.

        A timeout, 429 or 503 cuts the limit (counted in the call's books), an answer adapts it (other
        error answers do not: they took none of the work an answer takes); a timed-out request's slot
        stays occupied for :meth:`RateLimiter.drain_s` (the timeout reaches the caller at once), so no
        request, its own retry included, queues behind the abandoned work.
        """
        limiter = self._limiter
        async with limiter.slot() as held:
            books = current_books()
            if books is not None:  # booked here, not before the wait: only a request sent costs
                books.attempts += 1
            started = time.monotonic()
            try:
                response = await self._inner.handle_async_request(request)
            except httpx2.TimeoutException:
                waited = time.monotonic() - started
                held.hold_s = limiter.drain_s(waited)
                _book(limiter.record(waited, overloaded=True))
                raise
            answered = await buffered(response, request)
            busy = answered.status_code in _BUSY
            # An error answer comes without the work of an answer: its latency would skew the baseline.
            if busy or answered.status_code < 400:
                seconds = time.monotonic() - started
                _book(limiter.record(seconds, overloaded=busy, busy=busy, alone=held.alone))
            return answered

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


__all__ = [
    "LimitChange",
    "RateLimitConfig",
    "RateLimitedTransport",
    "RateLimiter",
    "Slot",
    "TokenBucket",
    "buffered",
]
