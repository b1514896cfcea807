"""One question, one typed answer: the chat sessions every LLM user of recpilot talks through.

:class:`ChatCompletionsClient` is recpilot's own OpenAI-compatible client: one POST of a JSON body
per request, parsed with pydantic-core, through one :class:`httpx2.AsyncClient` stack (record/replay
cache, retries with the remote-request guard, rate limits; see :mod:`recpilot.llm.client`). It asks
for the typed answer in the output mode the endpoint takes (:mod:`recpilot.llm.modes`) and steps down
within the same call when the server rejects a request shape. Every request carries a token limit
(``max_tokens``, or ``max_completion_tokens`` where the server takes only that; see
:class:`~recpilot.llm.modes.TokenLimitField`).
:class:`~recpilot.llm.model_chat.ModelChat` serves any pydantic-ai ``Model`` (the scripted test
models) through its direct request API.

Both implement :class:`ChatSession` (send, send an answer back with feedback) and return a
:class:`ChatReply`; validation and the repair round live in :mod:`recpilot.llm.structured`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import httpx2
import pydantic_core
from pydantic import BaseModel
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from recpilot import __version__
from recpilot.llm.errors import LLMError
from recpilot.llm.modes import (
    OUTPUT_TOOL,
    ModeChoice,
    OutputMode,
    TokenLimitField,
    rejects_shape,
    request_fields,
    schema_instructions,
)
from recpilot.llm.settings import LLMSettings

OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class Question(Generic[OutputT]):
    """One kind of question: instructions, the typed answer and the output's description.

    Attributes:
        instructions: The system prompt (the stable prefix of every request of this kind).
        output: The answer's pydantic model (its JSON schema is the output tool's parameters).
        description: The output tool's description.
        max_tokens: The answer's token budget (the settings' ``max_output_tokens`` caps it).
        wire_schema: The JSON schema sent to the model, when it should be stricter than ``output``
            (e.g. an enum of the tool names a plan may use, so constrained decoding cannot invent one);
            None: ``output``'s own schema, lean.
        prompt_schema: The JSON schema pasted into the instructions in the modes that carry no schema
            field of their own (json_object, prompted), when a shorter one than the wire schema guides
            the model as well (e.g. when the instructions already list each tool's arguments); None:
            the wire schema.
    """

    instructions: str
    output: type[OutputT]
    description: str
    max_tokens: int | None = None
    wire_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    prompt_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The JSON schema sent: ``wire_schema``, or the answer's own without titles and class docstrings."""
        if self.wire_schema is not None:
            return self.wire_schema
        return lean_schema(self.output)

    @cached_property
    def pasted_schema(self) -> dict[str, Any]:
        """The schema pasted into the instructions (json_object, prompted modes)."""
        return self.prompt_schema if self.prompt_schema is not None else self.schema

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


def lean_schema(output: type[BaseModel]) -> dict[str, Any]:
    """``output``'s JSON schema without ``title`` annotations and class docstrings (fields keep theirs)."""
    schema: dict[str, Any] = _without_titles(output.model_json_schema())
    return schema


#: Characters per token that a budget derived from a schema counts on (English prose and JSON keys
#: run at about 4 per token in the common BPE vocabularies; 3 leaves room for ids, digits and names).
CHARS_PER_TOKEN = 3


def longest_answer(schema: dict[str, Any]) -> int | None:
    """The most characters a compact JSON value that ``schema`` admits can take, or None if unbounded.

    Counts ``maxLength`` of strings, ``maxItems`` of arrays, ``maxProperties`` (with a key's own
    ``maxLength`` under ``propertyNames``) of free-form objects, every declared property of fixed ones,
    the longest ``enum``/``const`` member and the longest ``anyOf``/``oneOf`` branch; an integer counts
    20 characters, a number 24. Escapes are not counted. Local ``$ref`` s are followed.
    """
    definitions = {**schema.get("$defs", {}), **schema.get("definitions", {})}

    def longest(node: Any) -> int | None:
        if not isinstance(node, dict):
            return None
        if "$ref" in node:
            return longest(definitions.get(str(node["$ref"]).rsplit("/", 1)[-1]))
        if "const" in node:
            return len(json.dumps(node["const"]))
        if "enum" in node:
            return max((len(json.dumps(value)) for value in node["enum"]), default=0)
        branches = node.get("anyOf") or node.get("oneOf")
        if branches:
            lengths = [longest(branch) for branch in branches]
            return None if None in lengths else max(n for n in lengths if n is not None)
        kind = node.get("type")
        if kind == "string":
            return int(node["maxLength"]) + 2 if "maxLength" in node else None
        if kind in ("integer", "number"):
            return 20 if kind == "integer" else 24
        if kind in ("boolean", "null"):
            return 5
        if kind == "array":
            item = longest(node.get("items", {}))
            if item is None or "maxItems" not in node:
                return None
            return 2 + int(node["maxItems"]) * (item + 1)
        if kind == "object":
            total = 2
            for name, value in node.get("properties", {}).items():
                size = longest(value)
                if size is None:
                    return None
                total += len(json.dumps(name)) + 2 + size
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                key = longest({"type": "string", **node.get("propertyNames", {})})
                value = longest(extra)
                if key is None or value is None or "maxProperties" not in node:
                    return None
                total += int(node["maxProperties"]) * (key + 2 + value)
            return total
        return None

    return longest(schema)


def tokens_for(schema: dict[str, Any]) -> int:
    """A token budget that holds any answer ``schema`` admits (see :func:`longest_answer`).

    Raises:
        ValueError: ``schema`` admits answers of any length.
    """
    chars = longest_answer(schema)
    if chars is None:
        raise ValueError(
            "the schema bounds no answer's length: give every string a maxLength, every list a maxItems"
        )
    return -(-chars // CHARS_PER_TOKEN)


def _without_titles(node: Any, names: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: _without_titles(value, not names and key in _NAMED_SCHEMAS)
            for key, value in node.items()
            if names or not (key == "title" or (key == "description" and "properties" in node))
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
        finish_reason: Why generation stopped (``length``: cut at the token budget).
        mode: The output mode of the request.
        called: Names of the tools the model called (another tool than the output tool is a mistake).
        raw: The reply in the session's own form (sent back with feedback on a retry).
    """

    text: str
    via_tool: bool
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "stop"
    mode: OutputMode = "tool"
    called: list[str] = field(default_factory=list)
    raw: Any = field(default=None, repr=False)


class ChatSession(Protocol):
    """One question's exchange with a model: send it, and send a rejected answer back.

    Attributes:
        step_downs: The request shapes the server refused since the caller last emptied the list (an
            output mode, or the token-limit field), each re-sent in another shape within the same call;
            one line each (``what: reason``). :func:`~recpilot.llm.structured.ask_typed` books and
            clears them.
    """

    step_downs: list[str]

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
        self.problem = problem
        super().__init__(f"chat completion from {url} failed: {problem}")

    @property
    def rejects_shape(self) -> bool:
        """Whether the server refused the request's shape (tools, tool choice, response format)."""
        return rejects_shape(self.status, self.problem)


class ChatCompletionsClient:
    """recpilot's OpenAI-compatible chat-completions client: one JSON POST per request.

    Args:
        settings: Endpoint, model, key and sampling settings.
        http: The client requests go through (see :func:`recpilot.llm.client.llm_http_client`); not
            closed here.
        modes: The output mode choice for this endpoint and model.
    """

    def __init__(self, settings: LLMSettings, http: httpx2.AsyncClient, modes: ModeChoice) -> None:
        self.settings = settings
        self.http = http
        self.modes = modes
        self.url = httpx2.URL(f"{settings.endpoint}/chat/completions")  # parsed once, not per request
        self._headers = request_headers(settings)
        self._sampling: dict[str, Any] = {}
        if settings.temperature is not None:
            self._sampling["temperature"] = settings.temperature
        self.token_limit = TokenLimitField(settings.is_openai)

    def session(self, question: Question[Any], prompt: str) -> LeanChat:
        """A new exchange asking ``question`` about ``prompt``."""
        return LeanChat(self, question, [{"role": "user", "content": prompt}])

    async def complete(
        self, messages: list[dict[str, Any]], question: Question[Any], mode: OutputMode
    ) -> ChatReply:
        """One chat completion asking for ``question``'s typed answer in ``mode``.

        Raises:
            ChatCompletionsError: An HTTP error status, or a body that is not a chat completion.
            httpx2.HTTPError: The request failed after the transport's retries.
        """
        system = {
            "role": "system",
            "content": question.instructions + schema_instructions(mode, question.pasted_schema),
        }
        body = {
            "model": self.settings.model,
            "stream": False,
            "messages": [system, *messages],
            **self._sampling,
            self.token_limit.name: budget(question.max_tokens, self.settings.max_output_tokens),
            **request_fields(mode, question.description, question.schema),
        }
        response = await self.http.post(self.url, content=pydantic_core.to_json(body), headers=self._headers)
        if response.status_code >= 400:
            raise ChatCompletionsError(str(self.url), error_text(response), response.status_code)
        try:
            return _read_completion(pydantic_core.from_json(response.content), mode)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ChatCompletionsError(
                str(self.url),
                f"not a chat completion ({type(exc).__name__}: {exc})"[:300],
                response.status_code,
            ) from None


@dataclass
class LeanChat:
    """A :class:`ChatSession` over :class:`ChatCompletionsClient` (messages as plain JSON dicts).

    Attributes:
        step_downs: Request shapes the server refused during this exchange (see :class:`ChatSession`).
    """

    client: ChatCompletionsClient
    question: Question[Any]
    messages: list[dict[str, Any]]
    step_downs: list[str] = field(default_factory=list)

    async def send(self) -> ChatReply:
        """The model's next reply; a rejected request shape is resent in the next weaker mode.

        A reply that used the whole token budget counts as cut there, whatever finish reason it gives.
        """
        modes = self.client.modes
        while True:
            mode = modes.current
            try:
                reply = await self.client.complete(_for_mode(self.messages, mode), self.question, mode)
            except ChatCompletionsError as exc:
                if self.client.token_limit.switch_if_refused(exc.status, exc.problem):
                    self.step_downs.append(f"token limit field: {exc.problem}"[:200])
                    continue
                # Only a first request tells about the mode; a repair round's error is about its history.
                first = len(self.messages) == 1
                if first and exc.rejects_shape and modes.step_down(mode, exc.problem):
                    self.step_downs.append(f"{mode}: {exc.problem}"[:200])
                    continue
                raise
            modes.confirm(mode)
            limit = budget(self.question.max_tokens, self.client.settings.max_output_tokens)
            if limit is not None and reply.output_tokens >= limit:
                # llama.cpp's server says "tool_calls" even for a call cut at the token limit.
                reply.finish_reason = "length"
            return reply

    def send_back(self, reply: ChatReply, feedback: str) -> None:
        """The assistant message as received, then the feedback (as each tool call's result, or a user turn).

        The chat-completions API wants a result for every tool call of an assistant message.
        """
        message: dict[str, Any] = reply.raw
        self.messages.append(message)
        calls: list[dict[str, Any]] = message.get("tool_calls") or []
        for call in calls:
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": feedback})
        if not calls:
            self.messages.append({"role": "user", "content": feedback})


def request_headers(settings: LLMSettings) -> dict[str, str]:
    """The headers of every request to the endpoint: the key (a placeholder without one), JSON, recpilot."""
    return {
        "Authorization": f"Bearer {settings.resolved_api_key() or 'not-needed'}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"recpilot/{__version__}",
    }


def budget(question: int | None, settings: int | None) -> int | None:
    """The tokens an answer may take: the question's own budget, capped by the settings'."""
    given = [budget for budget in (question, settings) if budget]
    return min(given) if given else None


def _for_mode(messages: list[dict[str, Any]], mode: OutputMode) -> list[dict[str, Any]]:
    """The conversation as ``mode`` can send it: tool calls become text outside the tool mode.

    After a step down, an earlier answer made by a tool call is resent as its text, and its tool
    result as a user turn, because the request no longer declares the tool.
    """
    if mode == "tool":
        return messages
    result: list[dict[str, Any]] = []
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            text = calls[0]["function"].get("arguments") or ""
            result.append({"role": "assistant", "content": text if isinstance(text, str) else str(text)})
        elif message.get("role") == "tool":
            result.append({"role": "user", "content": message.get("content", "")})
        else:
            result.append(message)
    return result


def _read_completion(completion: Any, mode: OutputMode) -> ChatReply:
    choices = completion["choices"]
    if not choices:
        raise ValueError("the answer has no choices")
    choice = choices[0]
    message = choice["message"]
    usage = completion.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    finish = str(choice.get("finish_reason") or "stop")
    calls = message.get("tool_calls") or []
    # Sent back on a repair: llama.cpp refuses an assistant message whose content is null.
    sent_back: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if calls:
        sent_back["tool_calls"] = [
            {"id": c.get("id") or f"call_{i}", "type": "function", "function": c["function"]}
            for i, c in enumerate(calls)
        ]
    called = [str(c["function"]["name"]) for c in calls]
    call = next((c for c in calls if c["function"]["name"] == OUTPUT_TOOL), None)
    if call is not None:
        arguments = call["function"].get("arguments")
        text = arguments if isinstance(arguments, str) else pydantic_core.to_json(arguments).decode()
        return ChatReply(text, True, *tokens, finish_reason=finish, mode=mode, called=called, raw=sent_back)
    content = message.get("content")
    text = content.strip() if isinstance(content, str) else ""
    return ChatReply(text, False, *tokens, finish_reason=finish, mode=mode, called=called, raw=sent_back)


def error_text(response: httpx2.Response) -> str:
    """``HTTP <status>: <the server's message>``, shortened, for errors and logs."""
    try:
        error = pydantic_core.from_json(response.content)
        error = error.get("error") or error.get("detail") or error if isinstance(error, dict) else error
        detail = str(error.get("message") or error) if isinstance(error, dict) else str(error)
    except ValueError:
        detail = response.text
    detail = " ".join(detail.split())[:300]
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


__all__ = [
    "ChatCompletionsClient",
    "ChatCompletionsError",
    "ChatReply",
    "ChatSession",
    "LeanChat",
    "Question",
    "budget",
    "error_text",
    "lean_schema",
    "request_headers",
]
