"""The simulator's keep-alive HTTP transport against real loopback servers: connections are reused and
bounded, stale ones are replaced, chunked and close-delimited answers are read whole, and every failure
surfaces as the httpx exception the retrying transport expects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx2
import pytest

from recpilot.llm.http_pool import KeepAliveTransport
from recpilot.llm.models import RetryingTransport, RetryPolicy
from recpilot.testing.llm_server import ScriptedLLMServer, reply_delayed, reply_disconnect, reply_text

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body


def keep_alive_echo(delay_s: float = 0.0, requests_per_connection: int = 1000) -> Handler:
    """An HTTP/1.1 server answering each request with its body, then closing after N requests."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(requests_per_connection):
                body = await _read_request(reader)
                await asyncio.sleep(delay_s)
                writer.write(_answer(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


def test_connections_are_reused_and_bounded() -> None:
    transport = KeepAliveTransport(max_idle=4)

    async def run() -> list[str]:
        async with (
            serve(keep_alive_echo(delay_s=0.05)) as url,
            httpx2.AsyncClient(transport=transport) as client,
        ):
            first = [client.post(f"{url}/v1/x", content=f"a{i}".encode()) for i in range(9)]
            answers = await asyncio.gather(*first)
            assert transport.opened == 9  # nine in flight at once need nine connections
            for i in range(6):  # one at a time: the four kept idle serve them
                answers.append(await client.post(f"{url}/v1/x", content=f"b{i}".encode()))
            return [r.text for r in answers]

    texts = asyncio.run(run())
    assert texts == [f"a{i}" for i in range(9)] + [f"b{i}" for i in range(6)]
    assert transport.opened == 9


def test_a_connection_the_server_closed_is_replaced() -> None:
    transport = KeepAliveTransport()

    async def run() -> list[str]:
        async with (
            serve(keep_alive_echo(requests_per_connection=1)) as url,
            httpx2.AsyncClient(transport=transport) as client,
        ):
            texts = []
            for i in range(3):
                texts.append((await client.post(f"{url}/", content=str(i).encode())).text)
                await asyncio.sleep(0.05)  # the server has closed the idle connection by now
            return texts

    assert asyncio.run(run()) == ["0", "1", "2"]
    assert transport.opened == 3


def test_chunked_and_close_delimited_answers_are_read_whole() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (body[:3], body[3:]):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await _read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        writer.close()

    async def run() -> tuple[httpx2.Response, httpx2.Response]:
        async with serve(handle) as url, httpx2.AsyncClient(transport=KeepAliveTransport()) as client:
            chunked = await client.post(url, json={"k": "value"})
            closing = await client.post(url, content=b"x")
            return chunked, closing

    chunked, closing = asyncio.run(run())
    assert (chunked.status_code, chunked.json()) == (201, {"k": "value"})
    assert (closing.status_code, closing.text) == (200, "until the end")


def test_failures_are_the_httpx_exceptions_the_retries_expect() -> None:
    async def post(url: str, timeout: float = 5.0, transport: httpx2.AsyncBaseTransport | None = None) -> int:
        async with httpx2.AsyncClient(transport=transport or KeepAliveTransport(), timeout=timeout) as client:
            return (await client.post(url, content=b"{}")).status_code

    with pytest.raises(httpx2.ConnectError, match=r"127\.0\.0\.1:9"):
        asyncio.run(post("http://127.0.0.1:9/v1"))
    with ScriptedLLMServer([reply_delayed(5.0)]) as server, pytest.raises(httpx2.ReadTimeout):
        asyncio.run(post(f"{server.base_url}/chat/completions", timeout=0.2))
    with ScriptedLLMServer([reply_disconnect(), reply_disconnect(), reply_text("recovered")]) as server:
        with pytest.raises(httpx2.RemoteProtocolError):
            asyncio.run(post(f"{server.base_url}/chat/completions"))
        retrying = RetryingTransport(KeepAliveTransport(), RetryPolicy(max_retries=1, backoff_s=0.01))
        assert asyncio.run(post(f"{server.base_url}/chat/completions", transport=retrying)) == 200
    assert len(server.chat_requests) == 3  # the retry after the second disconnect got the answer
    assert server.chat_requests[-1].body == {}
