"""The progress line of long LLM runs: rates over the run so far and an ETA from the work done."""

from __future__ import annotations

import io
import itertools
import time

import pytest

from recpilot.llm.progress import LLMProgress, RunCounts
from recpilot.llm.ratelimit import RateLimitConfig, RateLimiter


def test_the_line_gives_rates_and_the_eta_of_the_remaining_work() -> None:
    meter = LLMProgress(lambda: RunCounts(0, 0, 0, 0))
    line = meter.line(RunCounts(calls=20, output_tokens=600, done=10, total=40), elapsed_s=10.0)
    assert line == "llm 10/40 pages done (25%): 2.0 calls/s, 60 output tok/s, ETA 0:00:30"
    assert meter.line(RunCounts(0, 0, 0, 40), elapsed_s=3.0).endswith("ETA ?")  # nothing done yet
    assert "ETA 1:01:01" in meter.line(RunCounts(1, 1, 1, 3662), elapsed_s=1.0)


def test_lines_come_every_interval_from_a_thread_and_once_at_the_end() -> None:
    ticks = itertools.count(1)
    stream = io.StringIO()
    with LLMProgress(lambda: RunCounts(next(ticks), 0, 1, 2), every_s=0.05, stream=stream):
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3  # periodic lines, then the last one
    assert all(line.startswith("llm 1/2 pages done (50%): ") for line in lines)


def test_the_line_shows_requests_in_flight_and_the_adaptive_limit() -> None:
    limiter = RateLimiter(RateLimitConfig(max_concurrency=16, start_concurrency=4))
    limiter.record(30.0, overloaded=True)  # a timeout halves the limit
    stream = io.StringIO()
    with LLMProgress(lambda: RunCounts(3, 90, 2, 6), every_s=60, stream=stream, limiter=lambda: limiter):
        pass
    assert stream.getvalue().startswith("llm 2/6 pages done (33%), 0 requests in flight (limit 2/16): ")


def test_a_failed_run_ends_with_its_error_not_a_progress_line() -> None:
    stream = io.StringIO()
    with pytest.raises(RuntimeError), LLMProgress(lambda: RunCounts(1, 1, 1, 2), every_s=60, stream=stream):
        raise RuntimeError("stopped")
    assert stream.getvalue() == ""
