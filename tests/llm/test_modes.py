"""Output modes and bad input against a scripted server: each case ends in an answer or a counted failure."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from recpilot.cli.app import app, main
from recpilot.llm.chat import ChatCompletionsClient, ChatCompletionsError, Question
from recpilot.llm.client import LLMClient
from recpilot.llm.errors import LLMDeadlineError, LLMError
from recpilot.llm.modes import TOKEN_LIMIT_FIELDS, ModeChoice, ModeMemory, extract_json, rejects_shape
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks, OutputRejectedError
from recpilot.testing.llm_server import (
    ScriptedLLMServer,
    ScriptedReply,
    reply_delayed,
    reply_disconnect,
    reply_error,
    reply_json,
    reply_output,
    reply_text,
)


class Genre(BaseModel):
    genre: str
    year: int


QUESTION = Question("Pick a genre.", Genre, "The genre.", max_tokens=50)
GOOD = {"genre": "Comedy", "year": 1994}


def settings(server: ScriptedLLMServer, tmp_path: Path, **extra: Any) -> LLMSettings:
    fields: dict[str, Any] = {"timeout_s": 1.0, "backoff_s": 0.0, "max_retries": 1, "output_retries": 1}
    fields |= {"modes_file": tmp_path / "modes.json", **extra}
    return LLMSettings(base_url=server.base_url, model="m", **fields)


def ask(client: LLMClient, books: CallBooks | None = None) -> Genre:
    async def run() -> Genre:
        async with client.opened():
            return await client.ask(QUESTION, "a 90s comedy", books or CallBooks())

    return asyncio.run(run())


def length_cut(text: str) -> ScriptedReply:
    reply = reply_text(text)
    reply.body["choices"][0]["finish_reason"] = "length"
    return reply


def test_a_tool_call_cut_at_the_token_limit_is_booked_and_sent_back_as_cut(tmp_path: Path) -> None:
    # llama-cpp-python's server reports finish_reason "tool_calls" for a call cut at max_tokens.
    cut = reply_output('{"genre": "Comedy", "year": 19', completion_tokens=QUESTION.max_tokens or 0)
    with ScriptedLLMServer([cut, reply_output(GOOD)]) as server:
        books = CallBooks()
        assert ask(LLMClient(settings(server, tmp_path, output_mode="tool")), books) == Genre(**GOOD)
        feedback = server.chat_requests[1].body["messages"][-1]["content"]
    assert books.truncated == 1
    assert "cut at the token limit" in feedback


def test_a_rejected_mode_steps_down_within_the_call_and_is_remembered(tmp_path: Path) -> None:
    script = [
        reply_error(500, "tool_choice 'final_result' is not supported"),
        reply_error(400, "response_format type json_schema: Input should be 'text' or 'json_object'"),
        reply_text(json.dumps(GOOD)),
        reply_text(json.dumps(GOOD)),
    ]
    with ScriptedLLMServer(script) as server:
        books = CallBooks()
        client = LLMClient(settings(server, tmp_path))
        assert ask(client, books) == Genre(**GOOD)
        again = LLMClient(settings(server, tmp_path))  # a new process reads what was learned
        assert ask(again) == Genre(**GOOD)
    bodies = [r.body for r in server.chat_requests]
    assert "tool_choice" in bodies[0]
    assert bodies[1]["response_format"]["type"] == "json_schema"
    assert bodies[2]["response_format"] == {"type": "json_object", "schema": QUESTION.schema}
    assert "JSON schema" in bodies[2]["messages"][0]["content"]  # the schema is in the instructions too
    assert bodies[3]["response_format"]["type"] == "json_object"  # learned: no rejected request again
    assert len(server.chat_requests) == 4  # a refused shape is not retried
    assert (books.attempts, books.requests, books.step_downs) == (3, 1, 2)
    assert books.failures == 0  # a step-down is counted apart, not as a failed call
    assert books.mode == "json_object"  # the mode that answered
    assert all(body["max_tokens"] == 50 for body in bodies)
    memory = ModeMemory(tmp_path / "modes.json")
    assert memory.load(client.settings.key) == ["json_object", "prompted"]


def test_a_fixed_mode_that_is_rejected_fails_with_the_servers_reason(tmp_path: Path) -> None:
    with ScriptedLLMServer([reply_error(400, "tools are not supported")]) as server:
        client = LLMClient(settings(server, tmp_path, output_mode="tool"))
        with pytest.raises(ChatCompletionsError, match="HTTP 400: tools are not supported"):
            ask(client)


def test_prose_instead_of_json_is_repaired_with_the_parse_error(tmp_path: Path) -> None:
    script = [reply_text("I think a comedy would be lovely!"), reply_text(f"Sure: ```{json.dumps(GOOD)}```")]
    with ScriptedLLMServer(script) as server:
        books = CallBooks()
        assert ask(LLMClient(settings(server, tmp_path, output_mode="prompted")), books) == Genre(**GOOD)
    feedback = server.chat_requests[1].messages[-1]["content"]
    assert "no JSON object in the answer" in feedback
    assert (books.requests, books.rejected) == (2, 1)


def test_an_answer_cut_at_the_token_limit_is_asked_again_shorter_then_counted(tmp_path: Path) -> None:
    with ScriptedLLMServer([length_cut('{"genre": "Com'), length_cut('{"genre": "Comedy", "ye')]) as server:
        books = CallBooks()
        with pytest.raises(OutputRejectedError, match="cut at the token limit"):
            ask(LLMClient(settings(server, tmp_path, output_mode="json_object")), books)
    assert "much shorter" in server.chat_requests[1].messages[-1]["content"]
    assert (books.truncated, books.rejected) == (2, 2)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ([reply_delayed(5.0, reply_output(GOOD))] * 2, "did not answer within the timeout"),
        ([reply_disconnect()] * 2, "closed the connection"),  # a dropped connection
        ([reply_json({"choices": []})], "the answer has no choices"),
    ],
    ids=["stall", "dropped-connection", "empty-choices"],
)
def test_broken_answers_end_in_one_line_errors(
    tmp_path: Path, script: list[ScriptedReply], message: str
) -> None:
    with ScriptedLLMServer(script) as server:
        client = LLMClient(settings(server, tmp_path, output_mode="tool"))
        with pytest.raises(Exception, match=message) as caught:
            ask(client)
    assert isinstance(caught.value, LLMError | httpx2.HTTPError)  # what every LLM user catches and counts
    assert "\n" not in str(caught.value)


def test_a_unit_of_work_past_its_deadline_ends_in_one_error_with_its_attempts_booked(tmp_path: Path) -> None:
    with ScriptedLLMServer([reply_delayed(5.0, reply_output(GOOD))] * 2) as server:
        client = LLMClient(settings(server, tmp_path, output_mode="tool", deadline_s=0.4))
        assert client.deadline_s == 0.4  # from the settings
        books = CallBooks()
        started = time.monotonic()
        with pytest.raises(LLMDeadlineError, match=r"within the 0\.4s deadline"):
            ask(client, books)
    assert time.monotonic() - started < 0.9  # cut at the deadline, not at the 1 s HTTP timeout
    assert (books.attempts, books.requests, books.failures) == (1, 0, 1)


def test_a_deadline_given_to_the_block_overrides_the_clients(tmp_path: Path) -> None:
    with ScriptedLLMServer([reply_delayed(0.3, reply_output(GOOD))]) as server:
        client = LLMClient(settings(server, tmp_path, output_mode="tool", deadline_s=0.1))

        async def run() -> Genre:
            async with client.opened(deadline_s=2.0):
                return await client.ask(QUESTION, "a 90s comedy", CallBooks())

        assert asyncio.run(run()) == Genre(**GOOD)


def test_rejects_shape_reads_the_error_not_the_status_alone() -> None:
    assert rejects_shape(500, "HTTP 500: Input should be 'text' or 'json_object' (response_format)")
    assert rejects_shape(400, "tool_choice must be auto")
    assert not rejects_shape(500, "HTTP 500: out of memory")
    assert not rejects_shape(429, "too many requests for tools")


def test_extract_json_finds_the_object_in_prose_and_fences() -> None:
    assert extract_json('Here: ```json\n{"a": "}", "b": {"c": 1}}\n``` done') == '{"a": "}", "b": {"c": 1}}'
    assert extract_json("no json here") is None


def test_llm_check_reports_each_probe_and_the_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path / "modes.json"))
    script = [
        reply_text("Hello!"),  # plain chat
        reply_text("no tool today"),  # tools, auto: accepted
        reply_text("ignored the choice"),  # tool_choice required: accepted, no call
        reply_error(500, "tool_choice must be auto"),  # named tool choice
        reply_error(500, "response_format: Input should be 'text' or 'json_object'"),
        reply_text(json.dumps(GOOD)),  # json_object
        ScriptedReply(
            body="data: {oops\n\n", headers={"Content-Type": "text/event-stream"}
        ),  # garbage stream
    ]
    with ScriptedLLMServer(script, models=["m"]) as server:
        key = f"{server.base_url}#m"
        result = CliRunner().invoke(app, ["llm", "check", key, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    status = {probe["name"]: probe["status"] for probe in report["probes"]}
    assert status == {
        "plain chat": "ok",
        "tools (auto)": "ok",
        "tool_choice required": "ignored",
        "tool (named)": "rejected",
        "json_schema": "rejected",
        "json_object": "ok",
        "streaming": "ignored",
    }
    assert report["mode"] == "json_object"
    assert report["models"] == ["m"]
    assert ModeMemory(tmp_path / "modes.json").load(key) == ["json_object", "prompted"]
    assert report["token_limit_field"] == "max_tokens"
    assert all(
        r.body["max_tokens"] == 60 and "max_completion_tokens" not in r.body for r in server.chat_requests
    )
    assert server.requests[0].headers["user-agent"].startswith("recpilot/")  # the LLM layer's headers


REFUSED_MAX_TOKENS = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead."
)


def limit_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The token-limit fields a request body carries."""
    return {name: body[name] for name in TOKEN_LIMIT_FIELDS if name in body}


def test_llm_check_sends_the_token_limit_field_the_server_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path / "modes.json"))
    script = [reply_error(400, REFUSED_MAX_TOKENS), *[reply_text(json.dumps(GOOD))] * 7]
    with ScriptedLLMServer(script, models=["m"]) as server:
        result = CliRunner().invoke(app, ["llm", "check", f"{server.base_url}#m", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["token_limit_field"] == "max_completion_tokens"
    assert report["probes"][0] == report["probes"][0] | {"name": "plain chat", "status": "ok"}  # re-sent
    bodies = [r.body for r in server.chat_requests]
    assert limit_fields(bodies[0]) == {"max_tokens": 60}
    assert all(limit_fields(body) == {"max_completion_tokens": 60} for body in bodies[1:])


def test_llm_check_goes_through_the_proxy_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path / "modes.json"))
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedLLMServer([reply_text("Hello!")] * 7, models=["m"]) as proxy:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.base_url.removesuffix("/v1"))
        result = CliRunner().invoke(app, ["llm", "check", "http://127.0.0.1:9/v1#m", "--json"])
    assert result.exit_code == 0, result.output  # nothing listens on port 9: the proxy answered
    assert proxy.requests[0].path == "http://127.0.0.1:9/v1/models"  # a forward proxy's absolute form
    assert len(proxy.chat_requests) == 7


def test_the_token_limit_field_follows_the_endpoint_and_switches_once_when_refused(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=reply_output(GOOD).body)

    openai = LLMSettings(model="gpt-5-mini", api_key="sk-test", modes_file=tmp_path / "m.json")
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    chat = ChatCompletionsClient(openai, http, ModeChoice(openai.key, "tool", None))
    asyncio.run(chat.complete([{"role": "user", "content": "hi"}], QUESTION, "tool"))
    assert limit_fields(seen[0]) == {"max_completion_tokens": 50}  # OpenAI's newer models take only this

    with ScriptedLLMServer([reply_error(400, REFUSED_MAX_TOKENS), reply_output(GOOD)]) as server:
        books = CallBooks()
        assert ask(LLMClient(settings(server, tmp_path, output_mode="tool")), books) == Genre(**GOOD)
    first, second = (r.body for r in server.chat_requests)
    assert limit_fields(first) == {"max_tokens": 50}  # what every other server knows
    assert limit_fields(second) == {"max_completion_tokens": 50}
    assert (books.calls, books.step_downs, books.failures) == (2, 1, 0)


def test_llm_check_names_the_url_for_unknown_models_and_unreachable_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ScriptedLLMServer(models=["smollm2"]) as server:
        assert main(["llm", "check", f"{server.base_url}#gpt-9"]) == 2
    error = capsys.readouterr().err
    assert "does not serve model 'gpt-9'" in error
    assert "smollm2" in error
    assert main(["llm", "check", "http://127.0.0.1:9/v1#m"]) == 2
    error = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9/v1/models" in error
    assert "Traceback" not in error


def test_the_wire_schema_goes_to_the_grammar_and_the_shorter_one_into_the_prompt(tmp_path: Path) -> None:
    wire = {"type": "object", "properties": {"genre": {"enum": ["Comedy"]}, "year": {"type": "integer"}}}
    pasted = {"type": "object", "properties": {"genre": {"type": "string"}}}
    question = Question("Pick a genre.", Genre, "The genre.", wire_schema=wire, prompt_schema=pasted)
    bodies: dict[str, dict[str, Any]] = {}
    for mode in ("tool", "json_object", "prompted"):
        reply = reply_output(GOOD) if mode == "tool" else reply_text(json.dumps(GOOD))
        with ScriptedLLMServer([reply]) as server:
            client = LLMClient(settings(server, tmp_path, output_mode=mode))

            async def run(client: LLMClient = client) -> Genre:
                async with client.opened():
                    return await client.ask(question, "a comedy", CallBooks())

            assert asyncio.run(run()) == Genre(**GOOD)
            bodies[mode] = server.chat_requests[0].body
    system = {mode: body["messages"][0]["content"] for mode, body in bodies.items()}
    assert bodies["tool"]["tools"][0]["function"]["parameters"] == wire
    assert system["tool"] == "Pick a genre."  # the tool's schema is not pasted as well
    assert bodies["json_object"]["response_format"] == {"type": "json_object", "schema": wire}
    for mode in ("json_object", "prompted"):
        assert json.dumps(pasted, separators=(",", ":")) in system[mode]
        assert "Comedy" not in system[mode]
