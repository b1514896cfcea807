"""What an OpenAI-compatible endpoint can do: the probes behind ``recpilot llm check``.

Each probe sends one small request through the HTTP stack every LLM user sends through (proxies and
the remote-request guard as elsewhere, no retries) and records whether the server accepted it,
whether the answer had the asked-for shape, the latency and the tokens. Every probe caps its answer
with the token-limit field the endpoint takes (:class:`~recpilot.llm.modes.TokenLimitField`). The
strongest output mode that worked is the one recpilot uses, and it is stored where ``auto`` looks for
it (:class:`~recpilot.llm.modes.ModeMemory`), so running the check again refreshes what was learned.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import httpx2

from recpilot.errors import RecpilotError
from recpilot.llm.chat import error_text, request_headers
from recpilot.llm.client import llm_http_client
from recpilot.llm.modes import (
    OUTPUT_TOOL,
    ModeMemory,
    OutputMode,
    TokenLimitField,
    extract_json,
    request_fields,
)
from recpilot.llm.ratelimit import RateLimitConfig, RateLimiter
from recpilot.llm.settings import LLMSettings

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"genre": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["genre", "year"],
}
_ASK = "Pick a genre and a year for a 1990s comedy. Answer in JSON with keys genre and year."
_PROBE_TOKENS = 60


@dataclass
class Probe:
    """One probe's outcome.

    Attributes:
        name: What was tried.
        status: ``ok``, ``ignored`` (accepted, but the answer lacks the asked-for shape) or ``rejected``.
        detail: The server's error or what was wrong, in one line.
        latency_s: Seconds to the whole answer.
        prompt_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
    """

    name: str
    status: str
    detail: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0

    @property
    def output_tokens_per_s(self) -> float:
        """Completion tokens per second of latency (0 when none were reported)."""
        return self.output_tokens / self.latency_s if self.latency_s > 0 else 0.0


@dataclass
class EndpointReport:
    """What ``recpilot llm check`` found.

    Attributes:
        endpoint: The API root.
        model: The model asked for.
        models: The models the server lists.
        probes: Each probe, in order.
        mode: The output mode recpilot will use.
        token_limit_field: The field that caps the answer's tokens the server took (``max_tokens`` or
            ``max_completion_tokens``).
    """

    endpoint: str
    model: str
    models: list[str] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    mode: OutputMode = "prompted"
    token_limit_field: str = "max_tokens"

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON values."""
        payload = asdict(self)
        for probe, row in zip(self.probes, payload["probes"], strict=True):
            row["output_tokens_per_s"] = round(probe.output_tokens_per_s, 1)
        return payload


class EndpointError(RecpilotError):
    """The endpoint cannot be used at all (unreachable, or it does not serve the model)."""


_MODE_PROBES: dict[str, OutputMode] = {
    "tool (named)": "tool",
    "json_schema": "json_schema",
    "json_object": "json_object",
}


def check_endpoint(settings: LLMSettings, *, save: bool = True) -> EndpointReport:
    """Probe ``settings``' endpoint and model; store the mode found when ``save``.

    Raises:
        EndpointError: The URL cannot be reached, or the server does not know the model.
    """
    report = anyio.run(_check, settings)
    if save:
        working = [mode for name, mode in _MODE_PROBES.items() if _status(report, name) == "ok"]
        ModeMemory(settings.resolved_modes_file()).save(settings.key, [*working, "prompted"])
    return report


def _status(report: EndpointReport, name: str) -> str:
    return next((p.status for p in report.probes if p.name == name), "")


async def _check(settings: LLMSettings) -> EndpointReport:
    report = EndpointReport(settings.endpoint, settings.model)
    # The stack every LLM user sends through (proxies from the environment, the remote-request guard),
    # one request at a time and without retries: a probe measures what one request gets.
    probing = settings.model_copy(update={"max_retries": 0})
    limiter = RateLimiter(RateLimitConfig(max_concurrency=1, adaptive=False))
    async with llm_http_client(probing, limiter) as http:
        http.headers.update(request_headers(settings))
        limit = TokenLimitField(settings.is_openai)
        report.models = await _models(http, settings)
        if report.models and settings.model not in report.models:
            raise EndpointError(
                f"{settings.endpoint} does not serve model {settings.model!r} (GET /models lists: "
                f"{', '.join(report.models[:10])}); use --llm {settings.endpoint}#<one of them>"
            )
        tool = request_fields("tool", "The answer.", _SCHEMA)["tools"]
        probes: list[tuple[str, dict[str, Any], str]] = [
            ("plain chat", {}, "text"),
            ("tools (auto)", {"tools": tool, "tool_choice": "auto"}, "any"),
            ("tool_choice required", {"tools": tool, "tool_choice": "required"}, "tool"),
            ("tool (named)", request_fields("tool", "The answer.", _SCHEMA), "tool"),
            ("json_schema", request_fields("json_schema", "", _SCHEMA), "json"),
            ("json_object", request_fields("json_object", "", _SCHEMA), "json"),
        ]
        for name, fields, expect in probes:
            report.probes.append(await _chat_probe(http, settings, limit, name, fields, expect))
        report.probes.append(await _stream_probe(http, settings, limit))
        report.token_limit_field = limit.name
    report.mode = next((m for n, m in _MODE_PROBES.items() if _status(report, n) == "ok"), "prompted")
    return report


async def _models(http: httpx2.AsyncClient, settings: LLMSettings) -> list[str]:
    url = f"{settings.endpoint}/models"
    try:
        response = await http.get(url)
    except httpx2.HTTPError as exc:
        raise EndpointError(
            f"cannot reach {url} (GET, to list the models): {type(exc).__name__}: {exc}"
        ) from None
    if response.status_code >= 400:
        return []  # some gateways do not list models; the chat probes will tell
    try:
        data = response.json().get("data") or []
        return [str(m.get("id")) for m in data if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return []


def _body(settings: LLMSettings, limit: TokenLimitField, fields: dict[str, Any]) -> dict[str, Any]:
    messages = [{"role": "user", "content": _ASK}]
    return {
        "model": settings.model,
        "messages": messages,
        limit.name: _PROBE_TOKENS,
        "temperature": 0,
        **fields,
    }


async def _post(
    http: httpx2.AsyncClient, settings: LLMSettings, limit: TokenLimitField, fields: dict[str, Any]
) -> httpx2.Response:
    """One probe request; sent again with the other token-limit field when the server refuses the first."""
    url = f"{settings.endpoint}/chat/completions"
    response = await http.post(url, json=_body(settings, limit, fields))
    if response.status_code >= 400 and limit.switch_if_refused(response.status_code, error_text(response)):
        response = await http.post(url, json=_body(settings, limit, fields))
    return response


async def _chat_probe(
    http: httpx2.AsyncClient,
    settings: LLMSettings,
    limit: TokenLimitField,
    name: str,
    fields: dict[str, Any],
    expect: str,
) -> Probe:
    started = time.perf_counter()
    try:
        response = await _post(http, settings, limit, fields)
    except httpx2.HTTPError as exc:
        return Probe(name, "rejected", f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - started)
    latency = time.perf_counter() - started
    if response.status_code >= 400:
        return Probe(name, "rejected", error_text(response)[:200], latency)
    try:
        completion = response.json()
        message = completion["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Probe(name, "rejected", "the answer is not a chat completion", latency)
    usage = completion.get("usage") or {}
    probe = Probe(
        name,
        "ok",
        "",
        latency,
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )
    calls = message.get("tool_calls") or []
    text = message.get("content") or ""
    if expect == "tool" and not any(c.get("function", {}).get("name") == OUTPUT_TOOL for c in calls):
        probe.status, probe.detail = "ignored", "accepted, but no call of the tool came back"
    elif expect == "json" and not _is_json(text):
        probe.status, probe.detail = "ignored", "accepted, but the answer is not the JSON asked for"
    elif expect == "text" and not text.strip():
        probe.status, probe.detail = "ignored", "an empty answer"
    return probe


def _is_json(text: str) -> bool:
    found = extract_json(text)
    if found is None:
        return False
    try:
        value = json.loads(found, strict=False)
    except ValueError:
        return False
    return isinstance(value, dict) and "genre" in value


async def _stream_probe(http: httpx2.AsyncClient, settings: LLMSettings, limit: TokenLimitField) -> Probe:
    started = time.perf_counter()
    chunks, text = 0, []
    try:
        response = await _post(http, settings, limit, {"stream": True})
    except httpx2.HTTPError as exc:
        return Probe(
            "streaming", "rejected", f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - started
        )
    latency = time.perf_counter() - started  # the answer arrives whole: the stack reads it to the end
    if response.status_code >= 400:
        return Probe("streaming", "rejected", error_text(response)[:200], latency)
    for line in response.text.splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        try:
            delta = json.loads(line[5:])["choices"][0].get("delta") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            return Probe("streaming", "ignored", "a chunk is not JSON", latency)
        chunks += 1
        text.append(delta.get("content") or "")
    if not chunks:
        return Probe("streaming", "ignored", "no chunk came", latency)
    return Probe("streaming", "ok", f"{chunks} chunks", latency, 0, chunks)


__all__ = ["EndpointError", "EndpointReport", "Probe", "check_endpoint"]
