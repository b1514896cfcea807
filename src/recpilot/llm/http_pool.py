"""The network end of the simulator's HTTP stack: HTTP/1.1 keep-alive connections at little CPU per request.

A population run keeps dozens of LLM requests in flight for minutes. httpcore's pool (under
``httpx.AsyncHTTPTransport``) re-examines every connection it holds on each request and each
response, probing the socket of every idle one, and its stream layers add more: at 64 connections
the network end was two thirds of the simulator's client CPU. :class:`KeepAliveTransport` does the
one thing needed here: requests whose body is already in memory, answers read whole, on a stack of
idle connections per origin (last used, first reused). HTTP/1.1 framing is h11's (the parser under
httpcore); connections are asyncio protocols, so a request costs a write, a read and one timer. Request
bodies (prompts) are small, so writes are left to the socket's buffer without flow control.

Failures map to httpx's exceptions (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
``RemoteProtocolError``), so the retrying transport above it treats them as it treats httpcore's. One
timeout bounds each attempt as a whole: the ``read`` timeout of the request (``connect`` while
connecting). A reused connection the server closed meanwhile (before any byte of an answer) is dropped
and the request goes out on another one, without counting as a failure, as with httpcore.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import h11
import httpx2


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: h11's state machine fed by an asyncio protocol."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received = False  # any byte of the current answer arrived
        self.timed_out = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.h11.receive_data(b"")
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def time_out(self) -> None:
        """End the exchange in progress with a read timeout (checked whenever it would wait)."""
        self.timed_out = True
        self._wake()

    def close(self) -> None:
        """Close the socket (the connection is not reused)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: httpx2.Request, body: bytes) -> tuple[h11.Response, bytes]:
        """Send ``request`` and read the whole answer; the connection stays usable when both sides agree."""
        assert self.transport is not None
        target = request.url.raw_path
        head = h11.Request(method=request.method, target=target, headers=list(request.headers.raw))
        try:
            events = (head, h11.Data(data=body), h11.EndOfMessage())
            self.transport.write(b"".join(self.h11.send(event) or b"" for event in events))
        except h11.LocalProtocolError as exc:
            raise httpx2.LocalProtocolError(str(exc)) from None
        self.received = False
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.closed or not self.received:  # h11's words for this are cryptic
                    raise httpx2.RemoteProtocolError(
                        "the server closed the connection without an answer"
                    ) from None
                raise httpx2.RemoteProtocolError(f"the server's answer is not valid HTTP: {exc}") from None
            if event is h11.NEED_DATA:
                if self.timed_out:
                    raise httpx2.ReadTimeout("the LLM endpoint did not answer within the timeout")
                if self.closed:
                    raise httpx2.RemoteProtocolError("the server closed the connection without an answer")
                self._waiter = self.loop.create_future()
                await self._waiter
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")
        assert response is not None
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            self.close()
        return response, b"".join(chunks)


class KeepAliveTransport(httpx2.AsyncBaseTransport):
    """An HTTP/1.1 transport with per-origin stacks of idle keep-alive connections (asyncio only).

    Args:
        max_idle: Idle connections kept per origin (the most requests expected in flight); more are
            opened when needed and closed when they come back to a full stack.
        ssl_context: Used for ``https`` endpoints (default: the system's trust store).
    """

    def __init__(self, max_idle: int = 64, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_idle = max_idle
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self.opened = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` on an idle or new connection; the answer comes back read whole."""
        body = await request.aread()
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        loop = asyncio.get_running_loop()
        idle = self._idle.setdefault(origin, [])
        while True:
            reused = bool(idle)
            connection = idle.pop() if reused else await self._open(loop, origin, timeouts.get("connect"))
            if connection.closed:
                continue
            read_timeout = timeouts.get("read")
            timer = loop.call_later(read_timeout, connection.time_out) if read_timeout else None
            try:
                answer, content = await connection.exchange(request, body)
            except httpx2.RemoteProtocolError:
                connection.close()
                if reused and not connection.received:  # a stale keep-alive connection: try a fresh one
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if not connection.closed:
                if len(idle) < self.max_idle:
                    idle.append(connection)
                else:
                    connection.close()
            return httpx2.Response(
                answer.status_code,
                headers=list(answer.headers),
                stream=httpx2.ByteStream(content),
                request=request,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(answer.reason)},
            )

    async def _open(
        self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int], timeout: float | None
    ) -> _Connection:
        scheme, host, port = origin
        secure = scheme == "https"
        if secure and self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    host,
                    port,
                    ssl=self._ssl_context if secure else None,
                    server_hostname=host if secure else None,
                )
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx2.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        self.opened += 1
        return connection

    async def aclose(self) -> None:
        """Close every idle connection."""
        for stack in self._idle.values():
            for connection in stack:
                connection.close()
        self._idle.clear()


__all__ = ["KeepAliveTransport"]
