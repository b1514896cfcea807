"""Record and replay LLM calls, so a simulation run is reproducible and can be re-run at no cost.

The cache works at the HTTP level: :class:`CachingTransport` wraps the OpenAI-compatible client's
transport and keys each request on what the server would receive: the method, the URL path and the
canonical JSON of the body (keys sorted, no whitespace), which holds the model name, every message,
the tool and output schemas and every sampling setting. That is the most reliable key: a wrapper at
the pydantic-ai model level would have to rebuild it from ``ModelMessage`` objects that carry
timestamps and run ids (different on every run) and from settings merged later by the provider, so
it could miss a field that changes the answer or include one that never repeats. Headers (API key,
SDK version, retry counters) and the host are left out on purpose: the same request to the same
model served at another address (a new loopback port, a mirror) replays.

Identical requests get identical answers within a run too: concurrent identical requests wait for
the first one (single flight) and later ones read what it stored. So a recorded run and its replay
make the same decisions, even when personas repeat. Only successful (2xx) answers are stored.

Storage is one SQLite file (WAL, busy timeout), safe for many tasks and processes (Ray workers) at once.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict

from recpilot.errors import RecpilotError

CacheMode = Literal["record", "replay", "auto"]
"""``record``: ask the server once per request and store the answer (refreshing older entries);
``replay``: answer from the cache only, a miss is an error; ``auto``: replay when stored, else record."""

#: Response headers not stored: the body is stored decoded and its length is recomputed on replay.
_DROPPED_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "date"}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_responses (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL
)
"""


class CacheMissError(RecpilotError):
    """A request had no stored answer while the cache replays only.

    Args:
        key: The request's key.
        path: The cache file.
        summary: A short description of the request (model and last message).
    """

    def __init__(self, key: str, path: Path, summary: str) -> None:
        self.key = key
        self.path = path
        super().__init__(
            f"LLM cache miss in replay mode: request {key} ({summary}) is not in {path}; "
            "record it first (cache mode 'record' or 'auto') or check that the run's config, seed and "
            "prompts match the recorded run"
        )


class LLMCacheConfig(BaseModel):
    """Where the cache lives and how it is used.

    Attributes:
        path: The SQLite file (created with its folder when missing).
        mode: ``record``, ``replay`` or ``auto`` (record or replay).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    mode: CacheMode = "auto"


def request_key(method: str, path: str, body: bytes) -> tuple[str, str]:
    """The cache key of a request and the canonical text it hashes.

    Args:
        method: The HTTP method.
        path: The URL path (host and query left out).
        body: The request body; JSON bodies are canonicalised, others hashed as bytes.

    Returns:
        ``(sha256 hex digest, canonical request text)``.
    """
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = {"raw_sha256": hashlib.sha256(body).hexdigest()}
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": parsed},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest(), canonical


class LLMCache:
    """The SQLite store behind :class:`CachingTransport` (one connection per process, thread-safe).

    Args:
        config: File and mode.

    Attributes:
        hits: Answers replayed from the store.
        misses: Requests sent to the server and stored.
    """

    def __init__(self, config: LLMCacheConfig) -> None:
        self.config = config
        self.path = Path(config.path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Another process (a Ray worker) opens its own connection to the same file.
        return {"config": self.config, "path": self.path, "hits": 0, "misses": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._connection = None

    @property
    def mode(self) -> CacheMode:
        """The cache mode."""
        return self.config.mode

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            connection.commit()
            self._connection = connection
        return self._connection

    def get(self, key: str) -> tuple[int, dict[str, str], bytes] | None:
        """The stored ``(status, headers, body)`` for ``key``, if any."""
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT status, headers, body FROM llm_responses WHERE key = ?", (key,))
                .fetchone()
            )
        if row is None:
            return None
        return int(row[0]), dict(json.loads(row[1])), bytes(row[2])

    def put(self, key: str, request: str, status: int, headers: dict[str, str], body: bytes) -> None:
        """Store (or replace) the answer to ``key``."""
        with self._lock:
            connection = self._connect()
            connection.execute(
                "INSERT OR REPLACE INTO llm_responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, request, status, json.dumps(headers, sort_keys=True), body, time.time()),
            )
            connection.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM llm_responses").fetchone()[0])

    def close(self) -> None:
        """Close the connection (reopened on the next use)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class CachingTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport that records answers to an :class:`LLMCache` and replays them.

    Put it outermost (above retries and rate limits): a replayed answer costs no request, no token
    of the rate and no retry.

    Args:
        inner: The transport that reaches the server (unused for hits; may fail in replay mode).
        cache: The store and its mode.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, cache: LLMCache) -> None:
        self._inner = inner
        self.cache = cache
        self._inflight: weakref.WeakValueDictionary[str, anyio.Lock] = weakref.WeakValueDictionary()
        self._refreshed: set[str] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer ``request`` from the cache, or send it and store a successful answer."""
        body = await request.aread()
        key, canonical = request_key(request.method, request.url.path, body)
        lock = self._inflight.get(key)
        if lock is None:
            lock = self._inflight[key] = anyio.Lock()
        async with lock:  # single flight: identical requests share the first one's answer
            reuse = self.cache.mode != "record" or key in self._refreshed
            stored = await anyio.to_thread.run_sync(self.cache.get, key) if reuse else None
            if stored is not None:
                self.cache.hits += 1
                status, headers, content = stored
                return httpx2.Response(status, headers=headers, content=content, request=request)
            if self.cache.mode == "replay":
                raise CacheMissError(key, self.cache.path, _summary(canonical))
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            await response.aclose()
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS}
            if 200 <= response.status_code < 300:
                await anyio.to_thread.run_sync(
                    self.cache.put, key, canonical, response.status_code, headers, content
                )
                self._refreshed.add(key)
                self.cache.misses += 1
            return httpx2.Response(response.status_code, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        """Close the inner transport and the cache's connection."""
        await self._inner.aclose()
        self.cache.close()


def _summary(canonical: str) -> str:
    body = json.loads(canonical).get("body")
    if not isinstance(body, dict):
        return "non-JSON body"
    messages = body.get("messages") or []
    last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else ""
    text = last if isinstance(last, str) else json.dumps(last)
    return f"model {body.get('model')!r}, {len(messages)} messages, last: {text[:60]!r}"


__all__ = ["CacheMissError", "CacheMode", "CachingTransport", "LLMCache", "LLMCacheConfig", "request_key"]
