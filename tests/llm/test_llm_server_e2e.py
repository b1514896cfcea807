"""End to end over HTTP: the real OpenAI client and pydantic-ai against a scripted server on loopback.

Every case ends in a valid AgentResponse, produced by the LLM or, after bounded retries, by the
offline brain (degraded); the server's request count pins down the retry behaviour.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import ToolRunner, Turn
from recpilot.agent.llm_brain import LLMBrain, build_llm_brain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse
from recpilot.llm import LLMSettings, LLMUnavailableError
from recpilot.llm import models as llm_models
from recpilot.testing.llm_server import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    ScriptedLLMServer,
    ScriptedReply,
    reply_delayed,
    reply_disconnect,
    reply_error,
    reply_json,
    reply_malformed,
    reply_output,
    reply_text,
    reply_tool_calls,
)
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolDispatcher
from recpilot.tools.recommender_tools import RECOMMENDER_TOOLS

TIMEOUT_S = 1.0
SEARCH = {"attributes": {"genres": ["Comedy"]}, "numeric": {"year": {"min": 1990, "max": 1999}}}
PLAN_OUTPUT = {
    "intent": "recommend",
    "steps": [{"tool": "search_catalog", "args": SEARCH}, {"tool": "rank_candidates", "args": {"k": 4}}],
    "constraints": SEARCH,
    "note": "90s comedies",
}
REPLY_OUTPUT = {"reply": "Four 90s comedies for you.", "item_ids": [], "notes": {}}
PLAN = reply_output(PLAN_OUTPUT)
REPLY = reply_output(REPLY_OUTPUT)
_sessions = itertools.count()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLMServer]:
    """A scripted endpoint configured through the environment, as a user would."""
    with ScriptedLLMServer() as scripted:
        env = {
            "BASE_URL": scripted.base_url,
            "MODEL": "scripted-model",
            "API_KEY": "sk-test",
            "TIMEOUT_S": str(TIMEOUT_S),
            "MAX_RETRIES": "2",
            "BACKOFF_S": "0.01",
            "RETRY_AFTER_MAX_S": "2",
            "OUTPUT_RETRIES": "1",
        }
        for name, value in env.items():
            monkeypatch.setenv(f"RECPILOT_LLM_{name}", value)
        yield scripted


def turn(runtime: AgentRuntime, message: str = "90s comedies please") -> AgentResponse:
    agent = RecommenderAgent(runtime, brain=build_llm_brain())
    return agent.respond("1", message, session_id=f"e2e-{next(_sessions)}")


def assert_valid(response: AgentResponse) -> None:
    assert response.reply.strip()
    assert "Traceback" not in response.reply
    for item in response.items:
        assert "Comedy" in item.attributes["genres"] or response.degraded


def test_happy_path_is_two_requests(llm_runtime: AgentRuntime, server: ScriptedLLMServer) -> None:
    server.push(PLAN, REPLY)
    response = turn(llm_runtime)

    assert_valid(response)
    assert response.brain == "llm"
    assert not response.degraded
    assert response.reply == "Four 90s comedies for you."
    assert 1 <= len(response.items) <= 4
    assert all(1990 <= item.attributes["year"] <= 1999 for item in response.items)
    assert len(server.chat_requests) == 2
    assert response.usage.llm_calls == 2
    assert response.usage.input_tokens == 2 * PROMPT_TOKENS
    assert response.usage.output_tokens == 2 * COMPLETION_TOKENS
    assert response.usage.failures == 0
    plan_request = server.chat_requests[0]
    assert plan_request.path == "/v1/chat/completions"
    assert plan_request.headers["authorization"] == "Bearer sk-test"
    assert plan_request.body["model"] == "scripted-model"
    assert plan_request.body["tool_choice"] == {"type": "function", "function": {"name": "final_result"}}
    assert plan_request.body["max_tokens"] > 0  # every request is bounded
    assert plan_request.tool_names == ["final_result"]
    assert "search_catalog" in plan_request.text()
    assert "Four 90s comedies" not in plan_request.text()
    assert "- " in server.chat_requests[1].text()  # the writer saw the grounded items


# (script, requests the server sees, degraded, failures counted when the LLM answered)
RECOVERED: dict[str, tuple[list[ScriptedReply], int, int]] = {
    "500 then success": ([reply_error(500), PLAN, REPLY], 3, 1),
    "408 then success": ([reply_error(408), PLAN, REPLY], 3, 1),
    "503 twice then success": ([reply_error(503), reply_error(503), PLAN, REPLY], 4, 2),
    "timeout then success": ([reply_delayed(3 * TIMEOUT_S, PLAN), PLAN, REPLY], 3, 1),
    "dropped connection then success": ([reply_disconnect(), PLAN, REPLY], 3, 1),
    "invalid JSON tool arguments": (
        [reply_tool_calls([("final_result", '{"intent": "recommend",')]), PLAN, REPLY],
        3,
        1,
    ),
    "schema-violating output": ([reply_output({"intent": "binge-watch", "steps": "all"}), PLAN, REPLY], 3, 1),
    "unknown tool name": ([reply_tool_calls([("launch_missiles", {"now": True})]), PLAN, REPLY], 3, 1),
    "empty answer": ([reply_text(""), PLAN, REPLY], 3, 1),
    "empty reply text": ([PLAN, reply_output({"reply": ""}), REPLY], 3, 1),
}


@pytest.mark.parametrize("case", list(RECOVERED))
def test_recovered_failures(llm_runtime: AgentRuntime, server: ScriptedLLMServer, case: str) -> None:
    script, requests, failures = RECOVERED[case]
    server.push(*script)
    response = turn(llm_runtime)

    assert_valid(response)
    assert response.brain == "llm"
    assert not response.degraded
    assert response.reply == "Four 90s comedies for you."
    assert len(server.chat_requests) == requests
    assert server.remaining == 0
    assert response.usage.llm_calls == requests
    assert response.usage.failures == failures


def test_a_step_down_is_counted_apart_from_failures(
    llm_runtime: AgentRuntime, server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path / "modes.json"))
    server.push(
        reply_error(400, "tool_choice is not supported"),  # the tool mode is refused: json_schema next
        reply_text(json.dumps(PLAN_OUTPUT)),
        reply_text(json.dumps(REPLY_OUTPUT)),
    )
    response = turn(llm_runtime)

    assert not response.degraded
    assert response.reply == "Four 90s comedies for you."
    assert "response_format" in server.chat_requests[1].body
    usage = response.usage
    assert (usage.llm_calls, usage.step_downs, usage.failures) == (3, 1, 0)


def test_validation_feedback_goes_back_to_the_model(
    llm_runtime: AgentRuntime, server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_OUTPUT_RETRIES", "2")
    server.push(
        reply_tool_calls([("launch_missiles", "{}")]),
        reply_tool_calls([("final_result", "{oops")]),
        PLAN,
        REPLY,
    )
    response = turn(llm_runtime)

    assert not response.degraded
    assert "unknown tool 'launch_missiles'" in _tool_results(server.chat_requests[1].messages)
    assert "Invalid JSON" in _tool_results(server.chat_requests[2].messages)


def test_server_without_usage_reporting(llm_runtime: AgentRuntime, server: ScriptedLLMServer) -> None:
    bare = {key: value for key, value in PLAN.body.items() if key != "usage"}  # as some local servers send
    server.push(reply_json(bare), REPLY)
    response = turn(llm_runtime)

    assert not response.degraded
    assert response.usage.llm_calls == 2
    assert response.usage.input_tokens == PROMPT_TOKENS  # only the reply's request reported tokens


def test_retry_after_is_honoured(llm_runtime: AgentRuntime, server: ScriptedLLMServer) -> None:
    server.push(reply_error(429, "slow down", retry_after=0.4), PLAN, REPLY)
    response = turn(llm_runtime)

    assert not response.degraded
    first, second = server.chat_requests[:2]
    assert second.at - first.at >= 0.4
    assert response.usage.failures == 1


# (script, requests the server sees before the offline brain takes over)
DEGRADED: dict[str, tuple[list[ScriptedReply], int]] = {
    "400 is not retried": ([reply_error(400, "bad request"), PLAN, REPLY], 1),
    "401 is not retried": ([reply_error(401, "no key"), PLAN, REPLY], 1),
    "500 until retries run out": ([reply_error(500)] * 3 + [PLAN, REPLY], 3),
    "429 asking to wait past the cap": ([reply_error(429, retry_after=30), PLAN, REPLY], 1),
    # Slower than the longest timeout a retry gets (4x, see RetryPolicy.timeout_stretch_max).
    "timeouts until retries run out": ([reply_delayed(5 * TIMEOUT_S)] * 3 + [PLAN, REPLY], 3),
    "malformed body": ([reply_malformed(), PLAN, REPLY], 1),
    "empty answers until retries run out": ([reply_text(""), reply_text(None), PLAN, REPLY], 2),
}


@pytest.mark.parametrize("case", list(DEGRADED))
def test_unrecovered_failures_degrade_to_the_offline_brain(
    llm_runtime: AgentRuntime, server: ScriptedLLMServer, case: str
) -> None:
    script, requests = DEGRADED[case]
    server.push(*script)
    started = time.monotonic()
    response = turn(llm_runtime)

    assert_valid(response)
    assert response.degraded
    assert response.brain != "llm"
    assert len(server.chat_requests) == requests
    fallback = [step for step in response.trace if step.kind == "fallback"]
    assert fallback
    assert "LLMUnavailableError" in fallback[0].detail
    assert time.monotonic() - started < requests * (3 * TIMEOUT_S) + 10


def test_deadline_bounds_a_brain_step(llm_runtime: AgentRuntime, server: ScriptedLLMServer) -> None:
    server.push(*[reply_delayed(3 * TIMEOUT_S)] * 6)
    settings = LLMSettings(
        base_url=server.base_url, timeout_s=TIMEOUT_S, max_retries=5, backoff_s=0.01, deadline_s=1.5
    )
    context = ToolContext(llm_runtime.catalog, llm_runtime.models, llm_runtime.memory, "1")
    runner = ToolRunner(ToolDispatcher(RECOMMENDER_TOOLS), context)
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match=r"1\.5s deadline") as caught:
        asyncio.run(LLMBrain(settings).act(Turn("1", "deadline", "comedies"), runner))

    assert 1.5 <= time.monotonic() - started < 2.5
    # The first attempt timed out after 1s; its slot stays occupied while the server would still be
    # busy with it (no retry on top of abandoned work), and the deadline ends the retry's wait for it.
    assert len(server.chat_requests) == 1
    # The retry never got its slot, so it was never sent and costs nothing: one call, one failure.
    assert caught.value.usage.llm_calls == 1
    assert caught.value.usage.failures == 1


def test_unreachable_endpoint_is_retried_then_given_up(llm_runtime: AgentRuntime) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_s=0.01)
    context = ToolContext(llm_runtime.catalog, llm_runtime.models, llm_runtime.memory, "1")
    runner = ToolRunner(ToolDispatcher(RECOMMENDER_TOOLS), context)
    with pytest.raises(LLMUnavailableError, match=f"cannot connect to 127.0.0.1:{port}") as caught:
        asyncio.run(LLMBrain(settings).act(Turn("1", "unreachable", "comedies"), runner))

    assert caught.value.usage.llm_calls == 3
    assert caught.value.usage.failures == 3


def test_a_plan_with_an_unknown_tool_is_repaired_over_http(
    llm_runtime: AgentRuntime, server: ScriptedLLMServer
) -> None:
    bad_plan = reply_output({"intent": "recommend", "steps": [{"tool": "teleport", "args": {}}]})
    server.push(bad_plan, PLAN, REPLY)
    response = turn(llm_runtime)

    assert_valid(response)
    assert not response.degraded
    assert len(server.chat_requests) == 3
    assert "unknown tool 'teleport'" in _tool_results(server.chat_requests[1].messages)
    assert not [s for s in response.trace if s.name == "teleport"]  # never sent to the dispatcher
    assert (response.usage.llm_calls, response.usage.failures) == (3, 1)


def test_compose_failure_keeps_the_llm_plan(llm_runtime: AgentRuntime, server: ScriptedLLMServer) -> None:
    server.push(PLAN, reply_error(400, "context too long"))
    response = turn(llm_runtime)

    assert_valid(response)
    assert len(server.chat_requests) == 2
    assert 1 <= len(response.items) <= 4
    assert all("Comedy" in item.attributes["genres"] for item in response.items)
    assert any(step.kind == "fallback" for step in response.trace)


def test_remote_endpoint_cannot_be_reached_from_tests(
    llm_runtime: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not llm_models.ALLOW_REMOTE_LLM_REQUESTS  # switched off for the whole test session
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def recording_connect(sock: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    brain = build_llm_brain(
        LLMSettings(base_url="https://api.example.com/v1", api_key="sk-real", max_retries=2)
    )
    response = RecommenderAgent(llm_runtime, brain=brain).respond("1", "90s comedies", session_id="guard")

    assert response.degraded  # the guard refused the request before any connection was opened
    assert connects == []
    assert any("LLMRequestRefusedError" in step.detail for step in response.trace)


def _tool_results(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content")) for m in messages if m.get("role") == "tool")


def test_scripted_server_records_requests_and_fails_loudly_when_exhausted() -> None:
    with ScriptedLLMServer([reply_text("hi")]) as scripted, httpx2.Client(trust_env=False) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
        first = client.post(f"{scripted.base_url}/chat/completions", json=body)
        extra = client.post(f"{scripted.base_url}/chat/completions", json=body)
        missing = client.get(f"{scripted.base_url}/models")

    assert first.json()["choices"][0]["message"]["content"] == "hi"
    assert extra.status_code == 500
    assert "no reply left" in extra.json()["error"]["message"]
    assert missing.status_code == 404
    assert [r.method for r in scripted.requests] == ["POST", "POST", "GET"]
    assert scripted.chat_requests[0].text() == "hello"
