"""The adaptive concurrency limit learned from an endpoint's answers (AIMD), kept across steps.

See :mod:`recpilot.llm.ratelimit` for how the limit moves. :class:`LearnedLimit` is what the limit
has learned (the limit itself, the latency baseline, slow start or not, the log of changes); a
:class:`~recpilot.llm.ratelimit.RateLimiter` waits for slots under it. An
:class:`~recpilot.llm.client.LLMClient` keeps one for its endpoint and model for its whole life, so an
agent's steps (each in an HTTP client of its own, perhaps on an event loop of its own) go on from what
the earlier steps learned instead of from ``start_concurrency``. It holds no event-loop object, and a
lock guards its updates, so limiters on several event loops (threads) can share it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from recpilot.llm.ratelimit import RateLimitConfig


@dataclass(frozen=True)
class LimitChange:
    """One change of the adaptive concurrency limit.

    Attributes:
        at: When (``time.monotonic()``).
        old: The limit before.
        new: The limit after.
        reason: ``timeout``, ``busy`` (an HTTP 429 or 503) or ``grow``.
    """

    at: float
    old: int
    new: int
    reason: Literal["timeout", "busy", "grow"]


class LearnedLimit:
    """The concurrency limit an endpoint sustains, as learned so far from its answers.

    Args:
        config: The limits (``start_concurrency``, ``max_concurrency``, the AIMD parameters).
        timeout_s: The HTTP timeout of one attempt: the limit does not grow to where the smoothed
            latency, were the server to queue the extra requests, would pass half of it (None: no bound).

    Attributes:
        limit: Requests allowed in flight now (``max_concurrency`` when not adaptive).
        lowest_limit: The lowest limit so far.
        cuts: Times the limit was cut (timeouts, 429, 503).
        raises: Times the limit grew.
        changes: The latest changes of the limit, oldest first (at most 1,000 kept).
    """

    def __init__(self, config: RateLimitConfig, *, timeout_s: float | None = None) -> None:
        self.config = config
        self.timeout_s = timeout_s
        ceiling = config.max_concurrency
        self.limit = min(config.start_concurrency, ceiling) if config.adaptive else ceiling
        self.lowest_limit = self.limit
        self.cuts = 0
        self.raises = 0
        self.changes: deque[LimitChange] = deque(maxlen=1000)
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=config.baseline_window)
        self._typical: float | None = None
        self._good = 0  # answers in time since the limit last changed
        self._growing = True  # slow start: doubling until the first slow answer or overload

    def __getstate__(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def baseline_s(self) -> float | None:
        """The latency of an unqueued answer: the 10th percentile of the recent answers (None before any)."""
        if not self._recent:
            return None
        return sorted(self._recent)[len(self._recent) // 10]

    def record(
        self, seconds: float, overloaded: bool, *, busy: bool = False, alone: bool = False
    ) -> LimitChange | None:
        """Adapt the limit to one answer; returns the change it made, if any.

        Args:
            seconds: The attempt's latency (from when it got its slot).
            overloaded: It timed out, or the server said it is busy (HTTP 429 or 503).
            busy: The overload was an HTTP 429 or 503 (else a timeout), for the log.
            alone: No other request held a slot when it went out (see
                :attr:`~recpilot.llm.ratelimit.Slot.alone`).
        """
        with self._lock:  # answers of several event loops (threads) may come at once
            return self._record(seconds, overloaded, busy=busy, alone=alone)

    def _record(
        self, seconds: float, overloaded: bool, *, busy: bool = False, alone: bool = False
    ) -> LimitChange | None:
        if not self.config.adaptive:
            return None
        if overloaded:
            self._good, self._growing = 0, False
            cut = max(1, int(self.limit * self.config.backoff_ratio))
            return self._change(cut, "busy" if busy else "timeout")
        slow = self.config.latency_tolerance * (self.baseline_s or seconds)
        if seconds <= slow or alone:
            self._recent.append(seconds)
        # Smoothed, so one slow answer (a busy client, a GC pause) does not end slow start.
        self._typical = seconds if self._typical is None else 0.8 * self._typical + 0.2 * seconds
        if self._typical > slow:
            self._growing, self._good = False, 0  # the server queues: hold the limit
            return None
        if seconds > slow:
            self._good = 0  # this answer waited behind others: no growth on this round
            return None
        self._good += 1
        if self._good < self.limit or self.limit >= self.config.max_concurrency:
            return None
        steps = (self.limit * 2, self.limit + 1) if self._growing else (self.limit + 1,)
        for grown in (min(step, self.config.max_concurrency) for step in steps):
            # Should the server queue the extra requests, would answers near the timeout?
            if self.timeout_s is None or self._typical * grown / self.limit <= self.timeout_s / 2:
                return self._change(grown, "grow")
        self._good = 0
        return None

    def _change(self, new: int, reason: Literal["timeout", "busy", "grow"]) -> LimitChange | None:
        if new == self.limit:
            return None
        change = LimitChange(time.monotonic(), self.limit, new, reason)
        self.changes.append(change)
        if new < self.limit:
            self.cuts += 1
            self.lowest_limit = min(self.lowest_limit, new)
        else:
            self.raises += 1
        self.limit, self._good = new, 0
        return change


__all__ = ["LearnedLimit", "LimitChange"]
