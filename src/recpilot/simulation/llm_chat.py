"""The two ways the LLM simulator talks to a model: a lean chat-completions client and pydantic-ai.

A simulated page is one question with one typed answer through one output tool. pydantic-ai's model
layer (with the OpenAI SDK under it) costs about 3 ms of CPU per call in request building and
response handling, which caps one process far below what an endpoint with dozens of requests in
flight can serve. :class:`ChatCompletionsClient` is the lean path for exactly this shape of call:
one POST of a JSON body (the same body pydantic-ai sends: messages, ``tools`` with the output tool's
JSON schema, ``tool_choice: required``), parsed with pydantic-core, through the same
:class:`httpx2.AsyncClient` stack (cache, retries with the remote-request guard, rate limits).
:class:`ModelChat` keeps the pydantic-ai route for any pydantic-ai ``Model`` (e.g. the scripted
test model) and as a configurable alternative for endpoints.

Both implement :class:`ChatSession` (send, send an answer back with feedback) and return a
:class:`ChatReply`; validation and bookkeeping stay in the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import httpx2
import pydantic_core
from pydantic import BaseModel
from pydantic_ai.direct import model_request
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryInfo,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from recpilot import __version__
from recpilot.llm.errors import LLMError
from recpilot.llm.models import RetryingTransport, RetryPolicy, build_chat_model
from recpilot.llm.settings import LLMSettings
from recpilot.simulation.http_pool import KeepAliveTransport
from recpilot.simulation.llm_answers import OUTPUT_TOOL
from recpilot.simulation.llm_cache import CachingTransport, LLMCache
from recpilot.simulation.ratelimit import RateLimitedTransport, RateLimiter

OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class Question(Generic[OutputT]):
    """One kind of question: instructions, the typed answer and the output tool's description.

    Attributes:
        instructions: The system prompt.
        output: The answer's pydantic model (its JSON schema is the output tool's parameters).
        description: The output tool's description.
    """

    instructions: str
    output: type[OutputT]
    description: str

    @cached_property
    def tool(self) -> dict[str, Any]:
        """The output tool in the chat-completions ``tools`` format."""
        schema = _without_titles(self.output.model_json_schema())
        function = {"name": OUTPUT_TOOL, "description": self.description, "parameters": schema}
        return {"type": "function", "function": function}

    @cached_property
    def parameters(self) -> ModelRequestParameters:
        """The output tool as pydantic-ai request parameters (no text output allowed)."""
        tool = ToolDefinition(
            name=OUTPUT_TOOL,
            parameters_json_schema=self.output.model_json_schema(),
            description=self.description,
            kind="output",
        )
        return ModelRequestParameters(output_mode="tool", output_tools=[tool], allow_text_output=False)


#: Schema keys whose values map names to schemas (a property may be called "title").
_NAMED_SCHEMAS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def _without_titles(node: Any, names: bool = False) -> Any:
    """A JSON schema without ``title`` annotations, as pydantic-ai sends it (the same request, cache key)."""
    if isinstance(node, dict):
        return {
            key: _without_titles(value, not names and key in _NAMED_SCHEMAS)
            for key, value in node.items()
            if names or key != "title"
        }
    if isinstance(node, list):
        return [_without_titles(value) for value in node]
    return node


@dataclass
class ChatReply:
    """What one model request returned, before validation.

    Attributes:
        text: The output tool's arguments, or the message text when the model called no output tool.
        via_tool: Whether ``text`` came from an output tool call.
        input_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
        raw: The reply in the session's own form (sent back with feedback on a retry).
    """

    text: str
    via_tool: bool
    input_tokens: int = 0
    output_tokens: int = 0
    raw: Any = field(default=None, repr=False)


class ChatSession(Protocol):
    """One question's exchange with a model: send it, and send a rejected answer back."""

    async def send(self) -> ChatReply:
        """The model's next reply to the conversation so far."""
        ...

    def send_back(self, reply: ChatReply, feedback: str) -> None:
        """Add ``reply`` and the ``feedback`` on it to the conversation (the next send retries)."""
        ...


class ChatCompletionsError(LLMError):
    """The endpoint's answer was an HTTP error or not a chat completion.

    Args:
        url: The endpoint.
        problem: What was wrong.
        status: The HTTP status.
    """

    def __init__(self, url: str, problem: str, status: int) -> None:
        self.url = url
        self.status = status
        super().__init__(f"chat completion from {url} failed: {problem}")


class ChatCompletionsClient:
    """A lean OpenAI-compatible chat-completions client: one output tool, one JSON POST per request.

    Args:
        settings: Endpoint, model, key and sampling settings.
        http: The client requests go through (see :func:`simulation_http_client`); not closed here.
    """

    def __init__(self, settings: LLMSettings, http: httpx2.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.url = httpx2.URL(f"{settings.endpoint}/chat/completions")  # parsed once, not per request
        self._headers = {
            "Authorization": f"Bearer {settings.resolved_api_key() or 'not-needed'}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"recpilot/{__version__}",
        }
        self._sampling: dict[str, Any] = {}
        if settings.temperature is not None:
            self._sampling["temperature"] = settings.temperature
        if settings.max_output_tokens is not None:
            self._sampling["max_completion_tokens"] = settings.max_output_tokens

    def session(self, question: Question[Any], prompt: str) -> LeanChat:
        """A new exchange asking ``question`` about ``prompt``."""
        messages = [{"role": "system", "content": question.instructions}, {"role": "user", "content": prompt}]
        return LeanChat(self, question.tool, messages)

    async def complete(self, messages: list[dict[str, Any]], tool: dict[str, Any]) -> ChatReply:
        """One chat completion that must call ``tool``.

        Raises:
            ChatCompletionsError: An HTTP error status, or a body that is not a chat completion.
            httpx2.HTTPError: The request failed after the transport's retries.
        """
        body = {
            "model": self.settings.model,
            "stream": False,
            "messages": messages,
            **self._sampling,
            "tool_choice": "required",
            "tools": [tool],
        }
        response = await self.http.post(self.url, content=pydantic_core.to_json(body), headers=self._headers)
        if response.status_code >= 400:
            raise ChatCompletionsError(str(self.url), _error_text(response), response.status_code)
        try:
            return _read_completion(pydantic_core.from_json(response.content), tool["function"]["name"])
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ChatCompletionsError(
                str(self.url), f"not a chat completion ({exc})", response.status_code
            ) from None


@dataclass
class LeanChat:
    """A :class:`ChatSession` over :class:`ChatCompletionsClient` (messages as plain JSON dicts)."""

    client: ChatCompletionsClient
    tool: dict[str, Any]
    messages: list[dict[str, Any]]

    async def send(self) -> ChatReply:
        """The model's next reply."""
        return await self.client.complete(self.messages, self.tool)

    def send_back(self, reply: ChatReply, feedback: str) -> None:
        """The assistant message as received, then the feedback as each tool call's result (or a user turn).

        The chat-completions API wants a result for every tool call of an assistant message.
        """
        message: dict[str, Any] = reply.raw
        self.messages.append(message)
        calls: list[dict[str, Any]] = message.get("tool_calls") or []
        for call in calls:
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": feedback})
        if not calls:
            self.messages.append({"role": "user", "content": feedback})


def _read_completion(completion: Any, tool_name: str) -> ChatReply:
    message = completion["choices"][0]["message"]
    usage = completion.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    calls = message.get("tool_calls") or []
    sent_back: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if calls:
        sent_back["tool_calls"] = [
            {"id": c.get("id") or f"call_{i}", "type": "function", "function": c["function"]}
            for i, c in enumerate(calls)
        ]
    call = next((c for c in calls if c["function"]["name"] == tool_name), None)
    if call is not None:
        arguments = call["function"].get("arguments")
        text = arguments if isinstance(arguments, str) else pydantic_core.to_json(arguments).decode()
        return ChatReply(text, True, *tokens, raw=sent_back)
    return ChatReply((message.get("content") or "").strip(), False, *tokens, raw=sent_back)


def _error_text(response: httpx2.Response) -> str:
    try:
        error = pydantic_core.from_json(response.content).get("error") or {}
        detail = str(error.get("message") or "")[:200]
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


@dataclass
class ModelChat:
    """A :class:`ChatSession` over any pydantic-ai ``Model`` (its direct request API, no agent run)."""

    model: Model
    question: Question[Any]
    messages: list[ModelMessage]

    @classmethod
    def open(cls, model: Model, question: Question[Any], prompt: str) -> ModelChat:
        """A new exchange asking ``question`` about ``prompt``."""
        request = ModelRequest(parts=[SystemPromptPart(question.instructions), UserPromptPart(prompt)])
        return cls(model, question, [request])

    async def send(self) -> ChatReply:
        """The model's next reply."""
        response = await model_request(
            self.model, self.messages, model_request_parameters=self.question.parameters, instrument=False
        )
        usage = response.usage.input_tokens, response.usage.output_tokens
        call = _output_call(response)
        if call is not None:
            return ChatReply(call.args_as_json_str(), True, *usage, raw=response)
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
        return ChatReply(text, False, *usage, raw=response)

    def send_back(self, reply: ChatReply, feedback: str) -> None:
        """The response, then the feedback as the output tool's retry (or retry feedback)."""
        response: ModelResponse = reply.raw
        call = _output_call(response)
        retry: ToolReturnPart | RetryFeedbackPart = (
            ToolReturnPart(
                call.tool_name,
                feedback,
                call.tool_call_id,
                outcome="retried",
                retry=RetryInfo("validation_error"),
            )
            if call is not None
            else RetryFeedbackPart(feedback, retry=RetryInfo("no_output"))
        )
        self.messages += [response, ModelRequest(parts=[retry])]


def _output_call(response: ModelResponse) -> ToolCallPart | None:
    return next(
        (p for p in response.parts if isinstance(p, ToolCallPart) and p.tool_name == OUTPUT_TOOL), None
    )


def simulation_http_client(
    settings: LLMSettings, limiter: RateLimiter, cache: LLMCache | None = None
) -> httpx2.AsyncClient:
    """An HTTP client for simulation traffic: cache (outermost), retries, rate limits, then the network.

    The cache sits on top so a replayed answer costs no request, token or retry; the limiter sits below
    the retries so every attempt waits for a token and a backoff sleep holds no concurrency slot. The
    network end keeps one connection per concurrency slot alive (see :class:`KeepAliveTransport`).
    """
    network = KeepAliveTransport(max_idle=limiter.config.max_concurrency)
    transport: httpx2.AsyncBaseTransport = RetryingTransport(
        RateLimitedTransport(network, limiter), RetryPolicy.from_settings(settings)
    )
    if cache is not None:
        transport = CachingTransport(transport, cache)
    timeout = httpx2.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 5.0))
    return httpx2.AsyncClient(transport=transport, timeout=timeout)


@asynccontextmanager
async def open_simulation_model(
    settings: LLMSettings, limiter: RateLimiter, cache: LLMCache | None = None
) -> AsyncIterator[Model]:
    """A pydantic-ai chat model over :func:`simulation_http_client`, closed on exit."""
    async with simulation_http_client(settings, limiter, cache) as client:
        yield build_chat_model(settings, client)


__all__ = [
    "ChatCompletionsClient",
    "ChatCompletionsError",
    "ChatReply",
    "ChatSession",
    "LeanChat",
    "ModelChat",
    "Question",
    "open_simulation_model",
    "simulation_http_client",
]
