"""The one LLM stack: typed output -> output mode -> retries -> rate limit -> concurrency -> cache -> HTTP.

:class:`LLMClient` is what every part that talks to a model holds (the agent's brain, the LLM
policy, the CRS user simulator, the simulation engine). Built from :class:`LLMSettings` it sends
through :func:`llm_http_client` with :class:`~recpilot.llm.chat.ChatCompletionsClient` in the output
mode the endpoint takes; built from a pydantic-ai ``Model`` (the scripted test models) it asks that
model directly. Either way :meth:`LLMClient.ask` returns a validated, checked, repaired answer and
books what it cost in one :class:`~recpilot.llm.structured.CallBooks`, and :meth:`LLMClient.opened`
bounds a unit of work by its deadline: no LLM user keeps its own books or deadline.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2
from pydantic import BaseModel
from pydantic_ai.models import Model

from recpilot.llm.adaptive import LearnedLimit
from recpilot.llm.cache import CachingTransport, LLMCache, LLMCacheConfig
from recpilot.llm.chat import ChatCompletionsClient, ChatSession, Question
from recpilot.llm.errors import LLMDeadlineError
from recpilot.llm.http_pool import KeepAliveTransport
from recpilot.llm.model_chat import ModelChat
from recpilot.llm.models import RetryingTransport, RetryPolicy, booking
from recpilot.llm.modes import ModeChoice, ModeMemory
from recpilot.llm.ratelimit import RateLimitConfig, RateLimitedTransport, RateLimiter
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks, ask_typed

OutputT = TypeVar("OutputT", bound=BaseModel)


def llm_http_client(
    settings: LLMSettings, limiter: RateLimiter, cache: LLMCache | None = None
) -> httpx2.AsyncClient:
    """An HTTP client for LLM traffic: cache (outermost), retries, rate limits, then the network.

    The cache sits on top so a replayed answer costs no request, token or retry; the limiter sits below
    the retries so every attempt waits for a token and a backoff sleep holds no concurrency slot. The
    network end keeps one connection per concurrency slot alive (see :class:`KeepAliveTransport`), or
    goes through the proxy ``HTTP(S)_PROXY`` names for the endpoint.
    """
    proxy = _environment_proxy(settings.endpoint)
    network: httpx2.AsyncBaseTransport = (
        KeepAliveTransport(max_idle=limiter.config.max_concurrency)
        if proxy is None
        else httpx2.AsyncHTTPTransport(proxy=proxy)
    )
    transport: httpx2.AsyncBaseTransport = RetryingTransport(
        RateLimitedTransport(network, limiter), RetryPolicy.from_settings(settings)
    )
    if cache is not None:
        transport = CachingTransport(transport, cache)
    timeout = httpx2.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 5.0))
    return httpx2.AsyncClient(transport=transport, timeout=timeout)


@dataclass
class _Connection:
    """An event loop's HTTP client and limiter (a client belongs to the loop it was opened on)."""

    loop: asyncio.AbstractEventLoop
    http: httpx2.AsyncClient
    limiter: RateLimiter
    chat: ChatCompletionsClient


#: The connection :meth:`LLMClient.opened` holds for the task it runs in (with the client it belongs to).
_SCOPED: ContextVar[tuple[LLMClient, _Connection] | None] = ContextVar("recpilot_llm_scoped", default=None)


class LLMClient:
    """A model to ask typed questions: an OpenAI-compatible endpoint, or a pydantic-ai ``Model``.

    Args:
        model: :class:`LLMSettings` for an endpoint, or any pydantic-ai ``Model`` (scripted in tests).
        rate: Concurrency and rate limits (default: the settings' ``concurrency`` and ``requests_per_s``).
        cache: A record/replay cache (default: the settings' ``cache_path``, if any).
        memory: Where learned output modes are kept (default: the settings' modes file).
        deadline_s: The default deadline of :meth:`opened` (default: the settings' ``deadline_s`` for
            an endpoint, none for an in-process model).

    Attributes:
        modes: The output mode choice (endpoints only).
        deadline_s: The default deadline of a block of work (:meth:`opened`), None for none.
    """

    def __init__(
        self,
        model: LLMSettings | Model,
        *,
        rate: RateLimitConfig | None = None,
        cache: LLMCache | None = None,
        memory: ModeMemory | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.model = model
        self.settings = model if isinstance(model, LLMSettings) else LLMSettings.model_construct()
        endpoint_deadline = model.deadline_s if isinstance(model, LLMSettings) else None
        self.deadline_s = deadline_s if deadline_s is not None else endpoint_deadline
        self.rate = rate or RateLimitConfig(
            max_concurrency=self.settings.concurrency, requests_per_s=self.settings.requests_per_s
        )
        if cache is None and isinstance(model, LLMSettings) and model.cache_path:
            cache = LLMCache(LLMCacheConfig(path=model.cache_path, mode=model.cache_mode))
        self.cache = cache
        self.modes: ModeChoice | None = None
        if isinstance(model, LLMSettings):
            memory = memory or ModeMemory(model.resolved_modes_file())
            self.modes = ModeChoice(model.key, model.output_mode, memory)
        self._connection: _Connection | None = None
        self._closed_limiter: RateLimiter | None = None
        # What the adaptive concurrency learned about this endpoint and model, kept for the client's
        # life: each connection (an agent step's, a long run's) goes on from it, not from the start.
        self._learned: LearnedLimit | None = None

    @classmethod
    def of(cls, model: LLMClient | LLMSettings | Model) -> LLMClient:
        """``model`` itself when it is a client, else a client for it."""
        return model if isinstance(model, LLMClient) else cls(model)

    @property
    def is_endpoint(self) -> bool:
        """Whether requests go over HTTP (settings), not to an in-process model."""
        return isinstance(self.model, LLMSettings)

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter of the current connection, or of the last one closed (None before any request).

        Every connection's limiter shares the one :class:`~recpilot.llm.adaptive.LearnedLimit` of this
        client, so its limit and changes are those learned over the client's life.
        """
        scoped = _SCOPED.get()
        if scoped is not None and scoped[0] is self:
            return scoped[1].limiter
        return self._connection.limiter if self._connection is not None else self._closed_limiter

    def chat(self, question: Question[Any], prompt: str) -> ChatSession:
        """A new exchange asking ``question`` about ``prompt`` (call inside the event loop that sends it)."""
        if not isinstance(self.model, LLMSettings):
            return ModelChat.open(self.model, question, prompt, self.settings.max_output_tokens)
        scoped = _SCOPED.get()
        if scoped is not None and scoped[0] is self:
            return scoped[1].chat.session(question, prompt)
        loop = asyncio.get_running_loop()
        if self._connection is None or self._connection.loop is not loop:
            self._connection = self._connect(self.model, loop)
        return self._connection.chat.session(question, prompt)

    @asynccontextmanager
    async def opened(self, deadline_s: float | None = None) -> AsyncIterator[LLMClient]:
        """A unit of work under a deadline; its requests (in this task) use their own HTTP client.

        For one-off work (an agent step, one policy decision, one simulated message) whose event loop
        may not outlive it; a long run in one loop shares the client's connection instead.

        Args:
            deadline_s: The most seconds the block may take, retries included (default:
                :attr:`deadline_s`; none when both are None).

        Raises:
            LLMDeadlineError: The block passed the deadline (its work is cancelled).
        """
        limit = self.deadline_s if deadline_s is None else deadline_s
        with anyio.move_on_after(limit) as scope:
            async with self._own_connection():
                yield self
        if limit is not None and scope.cancelled_caught:
            raise LLMDeadlineError(limit)

    @asynccontextmanager
    async def _own_connection(self) -> AsyncIterator[None]:
        if not isinstance(self.model, LLMSettings):
            yield
            return
        connection = self._connect(self.model, asyncio.get_running_loop())
        token = _SCOPED.set((self, connection))
        try:
            yield
        finally:
            _SCOPED.reset(token)
            self._closed_limiter = connection.limiter
            await connection.http.aclose()

    def _connect(self, settings: LLMSettings, loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._learned is None:
            self._learned = LearnedLimit(self.rate, timeout_s=settings.timeout_s)
        limiter = RateLimiter(self.rate, learned=self._learned)
        http = llm_http_client(settings, limiter, self.cache)
        assert self.modes is not None
        return _Connection(loop, http, limiter, ChatCompletionsClient(settings, http, self.modes))

    async def ask(
        self,
        question: Question[OutputT],
        prompt: str,
        books: CallBooks,
        *,
        repairs: int | None = None,
        check: Callable[[OutputT], list[str]] | None = None,
    ) -> OutputT:
        """The model's typed answer to ``prompt``; see :func:`~recpilot.llm.structured.ask_typed`.

        Args:
            question: The instructions and the answer's type.
            prompt: The user message.
            books: Where the calls' cost is added: answered requests, tokens, rejections, step-downs
                and the HTTP attempts (retries included), whether the question succeeds or not.
            repairs: Answers that may be sent back (default: the settings' ``output_retries``).
            check: ``answer -> list of problems`` beyond the schema (sent back to the model).
        """
        chat = self.chat(question, prompt)
        limit = self.settings.output_retries if repairs is None else repairs
        with booking(books):
            return await ask_typed(chat, question.output, books, repairs=limit, check=check)

    async def aclose(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._closed_limiter = connection.limiter  # its books stay readable (progress, run stats)
            await connection.http.aclose()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to other processes (Ray workers) without its HTTP client; each opens its own.
        return {**self.__dict__, "_connection": None, "_closed_limiter": None, "_learned": None}


def _environment_proxy(url: str) -> str | None:
    # A custom transport turns off httpx's reading of HTTP(S)_PROXY, so honour it here.
    host = httpx2.URL(url).host
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(httpx2.URL(url).scheme) or proxies.get("all")


__all__ = ["LLMClient", "llm_http_client"]
