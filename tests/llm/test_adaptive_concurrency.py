"""The adaptive concurrency limit (AIMD per endpoint): a one-slot server converges instead of collapsing.

A one-slot server (llama.cpp's, say) serves requests one after another. With a client timeout shorter
than the queue it would build (concurrency x service time), every queued request used to time out,
leave its work half done at the server and be retried on top of the queue. The limiter cuts its limit
on each timeout, keeps a timed-out request's slot while the server finishes the abandoned work, and
does not grow the limit when one more queued request would near the timeout.
"""

from __future__ import annotations

import asyncio
import pickle
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
    for _ in range(200):
        limiter.record(1.0, overloaded=False)  # five times the baseline: the server queues requests
    assert limiter.limit == 4
    assert limiter.baseline_s == pytest.approx(0.2)  # queued answers do not raise the baseline


def test_the_second_request_on_a_one_slot_server_stops_slow_start_at_once() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=2), timeout_s=30.0)
    limiter.record(1.0, overloaded=False)
    limiter.record(2.0, overloaded=False)  # it waited for the first one
    # The old limiter averaged the two (1.2 s, within 1.5x the fastest) and doubled to 4.
    assert limiter.limit == 2
    for _ in range(20):
        limiter.record(2.0, overloaded=False)  # two in flight, served one after the other
    assert limiter.limit == 2


def test_no_overshoot_before_queueing_shows_on_a_one_slot_server(tmp_path: Path) -> None:
    service_s, workers, each = 0.15, 4, 4
    with OneSlotLLMServer(reply_output({"item": "i3"}), service_s) as server:
        settings = LLMSettings(
            base_url=server.base_url,
            model="one-slot",
            timeout_s=30.0,
            max_retries=0,
            output_mode="tool",
            concurrency=8,
            modes_file=tmp_path / "modes.json",
        )
        client = LLMClient(settings)

        async def run() -> tuple[list[Choice | BaseException], RateLimiter | None]:
            answers, _ = await _ask_all(client, workers, each)
            await client.aclose()
            return answers, client.limiter

        answers, limiter = asyncio.run(run())
    assert all(isinstance(a, Choice) for a in answers)
    assert limiter is not None
    # The old limiter went 2 -> 4 on the first round (the second answer had queued behind the first).
    assert [(c.old, c.new) for c in limiter.changes] == []
    assert limiter.peak_in_flight == 2
    assert server.peak_waiting <= 2


def test_one_fast_outlier_does_not_stop_growth_and_the_baseline_follows_a_slower_server() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=1), timeout_s=30.0)
    for _ in range(10):
        limiter.record(0.2, overloaded=False, alone=True)  # a light load: one request at a time
    limiter.record(0.01, overloaded=False)  # one answer far shorter than the rest
    for _ in range(150):
        limiter.record(0.2, overloaded=False)
    # The old limiter keyed growth on the fastest answer ever seen: stuck at 1 for good.
    assert limiter.limit == 16
    assert limiter.baseline_s == pytest.approx(0.2)
    slower = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=2, baseline_window=50))
    for _ in range(10):
        slower.record(0.2, overloaded=False)
    for _ in range(3):
        slower.record(0.2, overloaded=True)  # timeouts: the server became five times slower
    assert slower.limit == 1
    for _ in range(60):
        slower.record(1.0, overloaded=False, alone=True)  # sent alone: no queue of ours in them
    assert slower.baseline_s == pytest.approx(1.0)
    assert slower.limit > 1  # growth resumes from the new baseline


def test_a_quick_error_answer_does_not_set_the_latency_baseline() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=4))

    async def send(url: str) -> list[int]:
        transport = RateLimitedTransport(KeepAliveTransport(), limiter)
        async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(5.0)) as client:
            return [
                (await client.post(f"{url}/chat/completions", json={"model": "m"})).status_code
                for _ in range(3)
            ]

    answer = reply_delayed(0.2, reply_text("ok"))
    with ScriptedLLMServer([reply_error(400, "response_format is not supported"), answer, answer]) as server:
        assert asyncio.run(send(server.base_url)) == [400, 200, 200]
    # The old limiter took the error's few milliseconds as the unloaded latency (and grew on it).
    assert limiter.drain_s(1.0) >= 0.2


def test_an_attempt_that_gives_up_waiting_for_a_slot_is_not_booked() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=1, adaptive=False))
    first, queued = CallBooks(), CallBooks()

    async def send(url: str, books: CallBooks, give_up_s: float | None) -> None:
        transport = RetryingTransport(
            RateLimitedTransport(KeepAliveTransport(), limiter), RetryPolicy(max_retries=0)
        )
        async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(5.0)) as client:
            with booking(books), anyio.move_on_after(give_up_s):
                await client.post(f"{url}/chat/completions", json={"model": "m"})

    async def run(url: str) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(send, url, first, None)
            await anyio.sleep(0.05)  # the first holds the only slot
            group.start_soon(send, url, queued, 0.1)  # gives up while still waiting for it

    with OneSlotLLMServer(reply_text("ok"), 0.4) as server:
        asyncio.run(run(server.base_url))
    assert first.attempts == 1
    assert queued.attempts == 0  # the old transport booked it before it waited
    assert len(server.chat_requests) == 1


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


def test_the_limit_learned_in_one_agent_step_carries_over_to_the_next(tmp_path: Path) -> None:
    # Each agent step runs in LLMClient.opened() (its own HTTP client, here its own event loop as each
    # turn of RecommenderAgent.respond has): the limit used to start from start_concurrency every time.
    rate = RateLimitConfig(max_concurrency=8, start_concurrency=1, latency_tolerance=1000)
    with OneSlotLLMServer(reply_output({"item": "i1"}), 0.05) as server:
        settings = LLMSettings(
            base_url=server.base_url, model="m", output_mode="tool", modes_file=tmp_path / "modes.json"
        )
        client = LLMClient(settings, rate=rate)

        def step(pages: int, *, together: bool) -> None:
            async def run() -> None:
                async with client.opened():
                    asks = [client.ask(QUESTION, f"page {page}", CallBooks()) for page in range(pages)]
                    if together:
                        await asyncio.gather(*asks)
                    else:
                        for ask in asks:
                            await ask

            asyncio.run(run())

        step(4, together=False)  # one after another: the limit grows 1 -> 2 -> 4 (slow start)
        assert server.peak_waiting == 1
        step(4, together=True)
    # The second step sent its four requests at once under the limit the first step learned.
    assert server.peak_waiting == 4
    assert client.limiter is not None
    assert client.limiter.limit >= 4
    assert [c.reason for c in client.limiter.changes] == ["grow"] * client.limiter.raises


def test_two_clients_of_an_endpoint_learn_apart_and_a_shipped_client_starts_afresh(tmp_path: Path) -> None:
    rate = RateLimitConfig(max_concurrency=8, start_concurrency=2)
    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", modes_file=tmp_path / "m.json")
    client = LLMClient(settings, rate=rate)

    async def cut() -> None:
        async with client.opened():
            assert client.limiter is not None
            client.limiter.record(5.0, overloaded=True)

    asyncio.run(cut())
    assert client.limiter is not None
    assert client.limiter.limit == 1
    shipped = pickle.loads(pickle.dumps(client))  # a Ray worker's copy opens its own connections
    other = LLMClient(settings, rate=rate)
    for fresh in (shipped, other):

        async def start(fresh: LLMClient = fresh) -> int:
            async with fresh.opened():
                assert fresh.limiter is not None
                return fresh.limiter.limit

        assert asyncio.run(start()) == 2
