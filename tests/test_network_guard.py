import socket

import pytest


def test_network_guard_refuses_outside_addresses() -> None:
    with socket.socket() as sock, pytest.raises(RuntimeError, match="must not reach the network"):
        sock.connect(("192.0.2.1", 80))


def test_network_guard_allows_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
