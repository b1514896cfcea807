"""Progress of a long LLM run on stderr: calls per second, output tokens per second and the ETA.

A simulation or evaluation that asks a model thousands of questions runs for minutes to hours;
:class:`LLMProgress` prints one line every few seconds from a background thread (the run's event loop
is never touched), and a last one when the run ends. It only reads counters (:class:`RunCounts`)
through the callable it is given, so any LLM user can report its books this way.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from recpilot.llm.ratelimit import RateLimiter


@dataclass(frozen=True)
class RunCounts:
    """What a run has done so far.

    Attributes:
        calls: Model requests sent (retries and replayed answers included).
        output_tokens: Completion tokens reported.
        done: Units of work finished (pages, turns...; not those still waiting for an answer).
        total: Units of work expected in all (an estimate is fine; the ETA follows it).
    """

    calls: int
    output_tokens: int
    done: float
    total: float


class LLMProgress:
    """Prints a progress line of a long LLM run every ``every_s`` seconds, and once more when it ends well.

    Use it as a context manager around the run. The line reads, e.g.,
    ``llm 120/400 pages done (30%), 8 requests in flight (limit 8/16): 12.1 calls/s, 350 output tok/s,
    ETA 0:00:23``; rates are over the run so far, the ETA is the remaining work at the rate done so far
    ("?" before any work is done). The limit is the endpoint's adaptive concurrency limit and its ceiling
    (see :mod:`recpilot.llm.ratelimit`), shown once a request has gone out.

    Args:
        read: Returns the run's counts (called from the background thread: it must only read).
        unit: What ``done`` counts, for the line ("pages").
        every_s: Seconds between lines.
        stream: Where lines go (default: ``sys.stderr`` at the time of each line).
        limiter: Returns the run's rate limiter, if any yet (read only).
    """

    def __init__(
        self,
        read: Callable[[], RunCounts],
        *,
        unit: str = "pages",
        every_s: float = 10.0,
        stream: TextIO | None = None,
        limiter: Callable[[], RateLimiter | None] | None = None,
    ) -> None:
        self.read = read
        self.limiter = limiter
        self._limiter_seen: RateLimiter | None = None
        self.unit = unit
        self.every_s = every_s
        self.stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def line(self, counts: RunCounts, elapsed_s: float, limiter: RateLimiter | None = None) -> str:
        """The progress line for ``counts`` after ``elapsed_s`` seconds (with ``limiter``'s state)."""
        seconds = max(elapsed_s, 1e-9)
        share = f" ({counts.done / counts.total:.0%})" if counts.total > 0 else ""
        remaining = max(0.0, counts.total - counts.done)
        eta = _clock(remaining / (counts.done / seconds)) if counts.done > 0 else "?"
        flight = ""
        if limiter is not None:
            ceiling = limiter.config.max_concurrency
            flight = f", {limiter.in_flight} requests in flight (limit {limiter.limit}/{ceiling})"
        return (
            f"llm {counts.done:.0f}/{counts.total:.0f} {self.unit} done{share}{flight}: "
            f"{counts.calls / seconds:.1f} calls/s, {counts.output_tokens / seconds:.0f} output tok/s, "
            f"ETA {eta}"
        )

    def _print(self) -> None:
        stream = self.stream or sys.stderr
        # The last limiter seen stays shown after the run closes its connection.
        limiter = self.limiter() if self.limiter is not None else None
        self._limiter_seen = limiter or self._limiter_seen
        limiter = self._limiter_seen
        print(self.line(self.read(), time.monotonic() - self._started, limiter), file=stream, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._print()

    def __enter__(self) -> LLMProgress:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="recpilot-llm-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if error is None:  # a failed run ends with its error message, not with a progress line
            self._print()


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


__all__ = ["LLMProgress", "RunCounts"]
