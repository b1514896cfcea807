"""Suite-wide guards: tests never reach the network beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from recpilot.llm.models import override_allow_remote_requests
from recpilot.testing.backends import postgres_admin_engine

_real_connect = socket.socket.connect


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths are local
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address):
        raise RuntimeError(
            f"tests must not reach the network: connection to {address!r} refused by the guard"
        )
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _no_remote_llm() -> Iterator[None]:
    """No test may send a request to a real LLM provider: only loopback endpoints are allowed."""
    with override_allow_remote_requests(False):
        yield


@pytest.fixture(autouse=True, scope="session")
def _llm_modes_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Learned LLM output modes go to a temporary file, never to the user's settings home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path_factory.mktemp("llm") / "modes.json"))
        yield


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    """An engine on the PostgreSQL test database (skips the test when the server is unreachable)."""
    yield from postgres_admin_engine()
