"""Fixtures of the MCP server tests: one service on the built-in catalog under a temporary home."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from recpilot.service import RecommenderService, ServiceConfig


@pytest.fixture(scope="session")
def mcp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The RECPILOT_HOME of these tests (store and cached models), never the user's own."""
    return tmp_path_factory.mktemp("mcp-home")


@pytest.fixture(scope="session")
def service(mcp_home: Path) -> Iterator[RecommenderService]:
    """The service on ml-latest-small; fitting once here leaves the models cached for the stdio server."""
    built = RecommenderService.from_config(ServiceConfig(home=mcp_home))
    yield built
    built.close()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """Uvicorn serving an ASGI app on a loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def threaded_server() -> type[ThreadedServer]:
    """The class that serves an ASGI app on loopback (use it as a context manager)."""
    return ThreadedServer


@pytest.fixture
def anyio_backend() -> str:
    """The MCP tests run on asyncio."""
    return "asyncio"
