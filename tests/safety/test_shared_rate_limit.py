"""Rate limits shared by two uvicorn workers through Redis (127.0.0.1:6379), and per-process without it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from recpilot.agent.runtime import build_runtime
from recpilot.api.redis_limits import RedisRateLimiter
from recpilot.service import RecommenderService
from recpilot.testing.injection_catalog import build_catalog

REDIS = "redis://127.0.0.1:6379/0"
BURST = 20


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")


def test_buckets_are_shared_between_limiters() -> None:
    key = f"test-{uuid.uuid4().hex}"
    one, two = RedisRateLimiter(REDIS, 0.001, 3), RedisRateLimiter(REDIS, 0.001, 3)
    grants = [limiter.acquire(key) == 0.0 for limiter in (one, two, one, two, one)]
    assert grants == [True, True, True, False, False], "one bucket of 3 for both"


def test_an_unreachable_redis_falls_back_to_this_process(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", 1.0, 2)
    assert [limiter.acquire("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("k") > 0
    assert "unavailable" in caplog.text


@pytest.fixture(scope="module")
def key_and_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('workers') / 'w.db'}"
    service = RecommenderService(build_runtime(build_catalog(), store_url=url))
    key = service.create_api_key(f"rate-{uuid.uuid4().hex[:6]}").key
    service.close()
    return key, url


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, store: str, redis_url: str) -> Iterator[str]:
    env = {**os.environ, "TEST_STORE_URL": store, "TEST_REDIS_URL": redis_url,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "apps"), *sys.path])}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "redis_app:create", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        time.sleep(3)  # both workers up
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _granted(base: str, key: str) -> int:
    """200s out of 60 quick requests, each on a new connection (so both workers get some)."""
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    codes = [
        httpx.get(f"{base}/v1/users/x/profile", headers=headers, timeout=10).status_code for _ in range(60)
    ]
    assert set(codes) <= {200, 429}
    return codes.count(200)


@pytest.mark.slow
def test_two_uvicorn_workers_share_one_limit_through_redis(
    key_and_store: tuple[str, str], free_port: int
) -> None:
    key, store = key_and_store
    for base in _serve(free_port, store, REDIS):
        started = time.monotonic()
        granted = _granted(base, key)
        assert BURST <= granted <= BURST + int(time.monotonic() - started) + 2


@pytest.mark.slow
def test_without_redis_each_worker_keeps_its_own_limit(
    key_and_store: tuple[str, str], free_port: int
) -> None:
    """The control: the shared test above could fail (two workers allow about twice the burst)."""
    key, store = key_and_store
    for base in _serve(free_port, store, ""):
        assert _granted(base, key) > BURST + 5
