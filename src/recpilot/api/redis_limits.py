"""Per-key token buckets kept in Redis, so every server process (uvicorn worker) shares one limit.

The bucket update is one Lua script (atomic in Redis, timed by Redis' own clock), sent over a minimal
RESP connection (the protocol is a few lines; no client library is needed). When Redis cannot be
reached the limiter falls back to this process's buckets and logs it: a broken Redis never turns
requests into 5xx.
"""

from __future__ import annotations

import logging
import socket
import threading
from urllib.parse import urlsplit

from recpilot.api.limits import RateLimiter
from recpilot.errors import ConfigError

logger = logging.getLogger("recpilot.api")

_BUCKET = b"""
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(t))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisRateLimiter(RateLimiter):
    """:class:`RateLimiter` with its buckets in Redis (see the module docstring).

    Args:
        url: ``redis://host:port/db``.
        rate_per_s: Tokens added per second.
        burst: Bucket size.
        prefix: Key prefix (``{prefix}:{key id}``), so several servers can share one Redis.
    """

    def __init__(self, url: str, rate_per_s: float, burst: int, *, prefix: str = "recpilot:rate") -> None:
        super().__init__(rate_per_s, burst)
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ConfigError(f"limits.redis_url must look like redis://host:port/db, got {url!r}")
        self.address = (parts.hostname, parts.port or 6379)
        self.db = int(parts.path.strip("/") or 0)
        self.prefix = prefix
        self._conn: socket.socket | None = None
        self._reader: socket.SocketIO | None = None
        self._io = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key`` from the shared bucket (this process's, if Redis is down)."""
        try:
            with self._io:
                reply = self._command(b"EVAL", _BUCKET, b"1", f"{self.prefix}:{key}".encode(),
                                      repr(self.rate_per_s).encode(), str(self.burst).encode())  # fmt: skip
            return float(reply)
        except (OSError, ValueError) as exc:
            logger.warning(
                "Redis rate limiter at %s:%s unavailable (%s); using this process's", *self.address, exc
            )
            self._close()
            return super().acquire(key)

    def _command(self, *args: bytes) -> bytes:
        if self._conn is None:
            self._conn = socket.create_connection(self.address, timeout=2.0)
            self._reader = self._conn.makefile("rb")  # type: ignore[assignment]
            if self.db:
                self._send(b"SELECT", str(self.db).encode())
                self._read()
        self._send(*args)
        return self._read()

    def _send(self, *args: bytes) -> None:
        assert self._conn is not None
        frame = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        self._conn.sendall(frame)

    def _read(self) -> bytes:
        assert self._reader is not None
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("connection closed")
        kind, body = line[:1], line[1:-2]
        if kind == b"-":
            raise ValueError(body.decode(errors="replace"))
        if kind == b"$":
            size = int(body)
            return b"" if size < 0 else self._reader.read(size + 2)[:-2]
        return body

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._reader = None


def make_rate_limiter(rate_per_s: float, burst: int, redis_url: str | None) -> RateLimiter:
    """Buckets in Redis when ``redis_url`` is set, else in this process."""
    if redis_url:
        return RedisRateLimiter(redis_url, rate_per_s, burst)
    return RateLimiter(rate_per_s, burst)
