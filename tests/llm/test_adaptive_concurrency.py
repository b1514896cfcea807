"""The adaptive concurrency limit (AIMD per endpoint): a one-slot server converges instead of collapsing.

A one-slot server (llama.cpp's, say) serves requests one after another. With a client timeout shorter
than the queue it would build (concurrency x service time), every queued request used to time out,
leave its work half done at the server and be retried on top of the queue. The limiter cuts its limit
on each timeout, keeps a timed-out request's slot while the server finishes the abandoned work, and
does not grow the limit when one more queued request would near the timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import BaseModel

from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.http_pool import KeepAliveTransport
from recpilot.llm.models import RetryingTransport, RetryPolicy, booking
from recpilot.llm.ratelimit import RateLimitConfig, RateLimitedTransport, RateLimiter
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks
from recpilot.testing.llm_server import (
    OneSlotLLMServer,
    ScriptedLLMServer,
    reply_delayed,
    reply_error,
    reply_output,
    reply_text,
)


class Choice(BaseModel):
    """A scripted typed answer."""

    item: str


QUESTION = Question("Pick an item.", Choice, "Your pick.", max_tokens=50)


async def _ask_all(
    client: LLMClient, workers: int, each: int
) -> tuple[list[Choice | BaseException], list[CallBooks]]:
    """``workers`` tasks asking ``each`` questions one after another (as simulated users go page by page)."""
    books = [CallBooks() for _ in range(workers * each)]
    answers: list[Choice | BaseException] = []

    async def worker(first: int) -> None:
        for index in range(first, first + each):
            try:
                answers.append(await client.ask(QUESTION, f"page {index}", books[index]))
            except Exception as exc:  # a call that gave up is a result here, not a crash
                answers.append(exc)

    await asyncio.gather(*(worker(w * each) for w in range(workers)))
    return answers, books


def test_one_slot_server_with_a_short_timeout_completes_every_call_without_wasted_work(
    tmp_path: Path,
) -> None:
    service_s, timeout_s, concurrency, workers, each = 0.3, 0.8, 8, 8, 3
    assert timeout_s < concurrency * service_s  # a full queue would wait far past the timeout
    with OneSlotLLMServer(reply_output({"item": "i3"}), service_s) as server:
        settings = LLMSettings(
            base_url=server.base_url,
            model="one-slot",
            timeout_s=timeout_s,
            max_retries=2,
            backoff_s=0.05,
            output_mode="tool",
            concurrency=concurrency,
            modes_file=tmp_path / "modes.json",
        )
        client = LLMClient(settings)

        async def run() -> tuple[list[Choice | BaseException], list[CallBooks], RateLimiter | None]:
            answers, books = await _ask_all(client, workers, each)
            await client.aclose()
            return answers, books, client.limiter

        answers, books, limiter = asyncio.run(run())
    calls = workers * each
    failed = [a for a in answers if not isinstance(a, Choice)]
    assert not failed, f"{len(failed)} of {calls} calls failed: {failed[:2]}"
    # The old limiter grew to 4 here while the server queued: 7 timeouts, 6 answers computed for
    # clients that had gone. Now at most a couple while the limit finds its level.
    assert sum(b.attempts for b in books) - calls <= 2
    assert server.abandoned <= 2
    assert limiter is not None
    assert limiter.limit <= 2  # one or two requests in flight on a one-slot server
    assert limiter.peak_in_flight <= concurrency
    assert server.peak_waiting <= concurrency
    assert sum(b.limit_cuts for b in books) == limiter.cuts


def test_a_timeout_cuts_the_limit_multiplicatively_and_answers_grow_it_back() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=16))
    for expected in (8, 4, 2, 1, 1):
        limiter.record(1.0, overloaded=True)
        assert limiter.limit == expected
    assert limiter.cuts == 4
    assert [c.reason for c in limiter.changes] == ["timeout"] * 4
    seen = []
    for _ in range(300):
        limiter.record(0.2, overloaded=False)
        seen.append(limiter.limit)
    assert seen[0] == 2  # one answer per request in flight grows it by one (additive)
    assert seen == sorted(seen)  # never shrinks while answers come in time
    assert max(seen) == 16  # back up to the ceiling, never past it
    assert limiter.raises == 15


def test_a_busy_answer_cuts_the_limit_and_is_booked() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=8, start_concurrency=8))

    async def send(url: str, books: CallBooks) -> int:
        transport = RetryingTransport(
            RateLimitedTransport(httpx2.AsyncHTTPTransport(), limiter),
            RetryPolicy(max_retries=2, backoff_s=0.01),
        )
        async with httpx2.AsyncClient(transport=transport) as client:
            with booking(books):
                response = await client.post(f"{url}/chat/completions", json={"model": "m"})
            return response.status_code

    books = CallBooks()
    with ScriptedLLMServer([reply_error(503), reply_error(429), reply_text("ok")]) as server:
        status = asyncio.run(send(server.base_url, books))
    assert status == 200
    assert limiter.limit == 2  # 8 -> 4 -> 2
    assert [(c.old, c.new, c.reason) for c in limiter.changes] == [(8, 4, "busy"), (4, 2, "busy")]
    assert books.limit_cuts == 2
    assert books.attempts == 3


def test_the_limit_does_not_grow_when_a_queued_request_would_near_the_timeout() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=1), timeout_s=30.0)
    for _ in range(50):
        limiter.record(20.0, overloaded=False)  # a second request in flight would wait about 40 s
    assert limiter.limit == 1
    slow_start = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=2), timeout_s=30.0)
    for _ in range(2):
        slow_start.record(9.0, overloaded=False)
    assert slow_start.limit == 3  # doubling would risk 36 s answers if the server queued; one more: 27 s
    fast = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=1), timeout_s=30.0)
    for _ in range(50):
        fast.record(2.0, overloaded=False)
    assert fast.limit == 16


def test_a_slow_down_holds_the_limit() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=2))
    for _ in range(2):
        limiter.record(0.2, overloaded=False)
    assert limiter.limit == 4  # slow start: doubled after a round of answers in time
    for _ in range(20):
        limiter.record(1.0, overloaded=False)  # five times the fastest: the server queues requests
    assert limiter.limit == 4


def test_the_in_flight_count_never_passes_the_limit_as_it_moves() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=6, start_concurrency=1))
    over: list[tuple[int, int]] = []

    async def one(index: int) -> None:
        async with limiter.slot():
            if limiter.in_flight > limiter.limit:
                over.append((limiter.in_flight, limiter.limit))
            await anyio.sleep(0.005)
            limiter.record(0.005, overloaded=index % 17 == 0)

    async def run() -> None:
        async with anyio.create_task_group() as group:
            for index in range(200):
                group.start_soon(one, index)

    asyncio.run(run())
    assert not over
    assert limiter.peak_in_flight <= 6
    assert limiter.cuts > 0
    assert limiter.raises > 0
    assert limiter.in_flight == 0


def test_a_timed_out_request_keeps_its_slot_while_the_server_drains() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=4))
    limiter.record(0.3, overloaded=False)
    assert limiter.drain_s(1.0) == pytest.approx(0.3)  # about one unloaded answer
    assert RateLimiter().drain_s(1.0) == 1.0  # no answer yet: as long as it waited
    assert RateLimiter(RateLimitConfig(adaptive=False)).drain_s(1.0) == 0.0


@pytest.mark.parametrize(("stretch_max", "answered"), [(4.0, True), (1.0, False)])
def test_a_retry_after_a_read_timeout_gets_a_longer_timeout(stretch_max: float, answered: bool) -> None:
    # A server slower than the timeout answers nothing with a fixed timeout, however often it is retried.
    slow = reply_delayed(0.6, reply_text("ok"))
    policy = RetryPolicy(max_retries=1, backoff_s=0.01, timeout_stretch_max=stretch_max)

    async def send(url: str) -> int:
        transport = RetryingTransport(KeepAliveTransport(), policy)
        async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(0.4)) as client:
            try:
                response = await client.post(f"{url}/chat/completions", json={"model": "m"})
            except httpx2.ReadTimeout:
                return 0
            return response.status_code

    with ScriptedLLMServer([slow, slow]) as server:
        status = asyncio.run(send(server.base_url))
    assert (status == 200) is answered
    assert len(server.chat_requests) == 2
