"""A scripted OpenAI-compatible chat-completions server on loopback, for end-to-end tests of LLM code.

Tests start it as a context manager and point the real client at :attr:`ScriptedLLMServer.base_url`,
so the OpenAI SDK, HTTP, retries and response parsing all run for real. Each request to
``POST /v1/chat/completions`` is answered by the next :class:`ScriptedReply` of the script (a queue);
every request is recorded for assertions. Failures are scripted the same way: an HTTP error status
with an optional ``Retry-After``, a delay longer than the client's timeout, a malformed body, tool
calls with invalid JSON arguments or an unknown tool name, an empty answer.

Example: ``with ScriptedLLMServer([reply_output(plan), reply_output(reply)]) as server:`` then point
``RECPILOT_LLM_BASE_URL`` (or ``LLMSettings.base_url``) at ``server.base_url``.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Default token counts reported in each successful reply's ``usage``.
PROMPT_TOKENS = 100
COMPLETION_TOKENS = 20


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer.

    Attributes:
        status: The HTTP status.
        body: A JSON-serialisable body, or raw text/bytes sent as they are (a malformed body).
        headers: Extra response headers (e.g. ``Retry-After``).
        delay_s: Seconds to wait before answering (the wait ends early when the server stops).
        disconnect: Close the connection without answering at all.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    disconnect: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received.

    Attributes:
        method: The HTTP method.
        path: The request path.
        headers: Request headers (lower-case names).
        body: The parsed JSON body (None when it was not JSON).
        at: When it arrived (``time.monotonic()``), to check waits between retries.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent (empty for a non-chat request)."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model in this request."""
        tools = self.body.get("tools", []) if isinstance(self.body, dict) else []
        return [t["function"]["name"] for t in tools if isinstance(t, dict) and "function" in t]

    def text(self) -> str:
        """All message contents joined, for searching what the model was told."""
        parts: list[str] = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
        return "\n".join(parts)


_ids = itertools.count(1)


def _completion(
    message: dict[str, Any], finish_reason: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-scripted-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def reply_text(
    content: str | None, *, prompt_tokens: int = PROMPT_TOKENS, completion_tokens: int = COMPLETION_TOKENS
) -> ScriptedReply:
    """A plain assistant message (``None`` or ``""`` is an empty answer)."""
    message = {"role": "assistant", "content": content}
    return ScriptedReply(body=_completion(message, "stop", prompt_tokens, completion_tokens))


def reply_tool_calls(
    calls: Iterable[tuple[str, Mapping[str, Any] | str]],
    *,
    prompt_tokens: int = PROMPT_TOKENS,
    completion_tokens: int = COMPLETION_TOKENS,
) -> ScriptedReply:
    """An assistant message calling tools; arguments given as text go verbatim (possibly invalid JSON)."""
    tool_calls = [
        {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
        }
        for name, args in calls
    ]
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    return ScriptedReply(body=_completion(message, "tool_calls", prompt_tokens, completion_tokens))


def reply_output(
    output: Mapping[str, Any] | str,
    *,
    tool_name: str = "final_result",
    prompt_tokens: int = PROMPT_TOKENS,
    completion_tokens: int = COMPLETION_TOKENS,
) -> ScriptedReply:
    """A structured answer, sent as a call to the output tool pydantic-ai offers (``final_result``)."""
    return reply_tool_calls(
        [(tool_name, output)], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


def reply_json(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> ScriptedReply:
    """Any JSON body, sent as given."""
    return ScriptedReply(status=status, body=body, headers=dict(headers or {}))


def reply_error(
    status: int, message: str = "scripted failure", *, retry_after: float | None = None
) -> ScriptedReply:
    """An OpenAI-style error body with ``status`` (optionally with a ``Retry-After`` header in seconds)."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    kind = (
        "rate_limit_exceeded"
        if status == 429
        else "server_error"
        if status >= 500
        else "invalid_request_error"
    )
    body = {"error": {"message": message, "type": kind, "code": kind, "param": None}}
    return ScriptedReply(status=status, body=body, headers=headers)


def reply_malformed(text: str = '{"id": "chatcmpl-broken", "choices": [') -> ScriptedReply:
    """A 200 response whose body is not valid JSON."""
    return ScriptedReply(status=200, body=text, headers={"Content-Type": "application/json"})


def reply_disconnect() -> ScriptedReply:
    """No answer: the server closes the connection (a crashed or overloaded server)."""
    return ScriptedReply(disconnect=True)


def reply_delayed(delay_s: float, then: ScriptedReply | None = None) -> ScriptedReply:
    """``then`` (an empty answer by default) sent only after ``delay_s`` seconds."""
    base = then or reply_text("")
    return ScriptedReply(status=base.status, body=base.body, headers=base.headers, delay_s=delay_s)


class ScriptedLLMServer:
    """An OpenAI-compatible chat-completions endpoint on ``127.0.0.1`` (random port) answering from a script.

    Args:
        script: Replies in the order requests will get them; :meth:`push` adds more.
        exhausted: The reply once the script is used up (an HTTP 500 saying so by default, so an
            unexpected extra request fails loudly instead of hanging).
        models: The model names ``GET /v1/models`` lists (none: that route answers 404).
    """

    def __init__(
        self,
        script: Iterable[ScriptedReply] = (),
        *,
        exhausted: ScriptedReply | None = None,
        models: Iterable[str] = (),
    ) -> None:
        self._script: deque[ScriptedReply] = deque(script)
        self.models = list(models)
        self._exhausted = exhausted or reply_error(500, "the scripted server has no reply left")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:<port>/v1``)."""
        if self._httpd is None:
            raise RuntimeError("the scripted server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat-completions requests received, in order."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._script)

    def push(self, *replies: ScriptedReply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    def start(self) -> ScriptedLLMServer:
        """Start serving in a background thread."""
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed replies still waiting are cut short."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self, request: RecordedRequest) -> ScriptedReply:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else self._exhausted

    def _serve(self, client: socket.socket, request: RecordedRequest) -> ScriptedReply | None:
        """The reply to a chat request, after its delay (None: the server is stopping, answer nothing)."""
        reply = self._next(request)  # a streamed request gets the next reply as it is (scripted SSE)
        if reply.delay_s and self._stopping.wait(reply.delay_s):
            return None
        return reply


class OneSlotLLMServer(ScriptedLLMServer):
    """A chat endpoint with one generation slot: requests are served one at a time, in arrival order.

    Like llama.cpp's server (``llama_cpp.server``): each chat request takes ``service_s`` once its turn
    comes, the others wait; a waiting request whose client has gone is dropped when its turn comes,
    while one being served runs to its end even if its client has gone (the work is wasted).

    Args:
        reply: What every chat request gets.
        service_s: Seconds one request keeps the slot.

    Attributes:
        served: Requests served.
        abandoned: Requests served whose client had gone by the end (wasted work).
        dropped: Waiting requests dropped because their client had gone.
        peak_waiting: The most requests at the server at once (served and waiting).
    """

    def __init__(self, reply: ScriptedReply, service_s: float) -> None:
        super().__init__(exhausted=reply)
        self.service_s = service_s
        self._turns = threading.Condition()
        self._tickets = itertools.count()
        self._serving = 0
        self._waiting = 0
        self.served = 0
        self.abandoned = 0
        self.dropped = 0
        self.peak_waiting = 0

    def _serve(self, client: socket.socket, request: RecordedRequest) -> ScriptedReply | None:
        reply = self._next(request)
        with self._turns:
            ticket = next(self._tickets)
            self._waiting += 1
            self.peak_waiting = max(self.peak_waiting, self._waiting)
            while self._serving != ticket:
                self._turns.wait()
        try:
            if _client_gone(client):
                self.dropped += 1
                return None
            if self._stopping.wait(self.service_s):
                return None
            self.served += 1
            if _client_gone(client):
                self.abandoned += 1
            return reply
        finally:
            with self._turns:
                self._serving += 1
                self._waiting -= 1
                self._turns.notify_all()


def _client_gone(client: socket.socket) -> bool:
    """Whether the client closed its end (readable with nothing to read), without consuming data."""
    readable, _, _ = select.select([client], [], [], 0)
    if not readable:
        return False
    try:
        return client.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedLLMServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.owner._record(request)
            self._send(reply_error(404, f"no route {self.path}"))
            return
        reply = self.owner._serve(self.connection, request)
        if reply is None:
            return
        if reply.disconnect:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.owner._record(RecordedRequest("GET", self.path, headers, None))
        if self.path.rstrip("/").endswith("/models") and self.owner.models:
            data = [{"id": name, "object": "model", "owned_by": "scripted"} for name in self.owner.models]
            self._send(reply_json({"object": "list", "data": data}))
            return
        self._send(reply_error(404, f"no route {self.path}"))

    def _send(self, reply: ScriptedReply) -> None:
        body = reply.body
        payload = (
            body
            if isinstance(body, bytes)
            else body.encode()
            if isinstance(body, str)
            else json.dumps(body).encode()
        )
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout passed); nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
