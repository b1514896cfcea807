"""The LLM path against a real model: llama.cpp's server with SmolLM2-135M on loopback.

The model is tiny and often wrong; these tests never judge what it says. They check what must hold
whatever it says: no request is rejected for its shape, answers are parsed, repaired or counted as
failures with a reason, grounding holds, and every turn completes within its deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from typer.testing import CliRunner

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse
from recpilot.cli.app import app
from recpilot.conversation.leakguard import distinctive_terms
from recpilot.conversation.policy import Ask, AttributeSpace, Recommend
from recpilot.conversation.policy.llm import LLMPolicy
from recpilot.conversation.state import DialogueState
from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks
from recpilot.simulation.crs_user import (
    LLMUserSimulator,
    SimulationGoal,
    SimulatorContext,
    SimulatorError,
    SimulatorReply,
    TargetItem,
)
from recpilot.simulation.types import Persona
from recpilot.testing.local_llm import LocalLLMServer

pytestmark = pytest.mark.real_llm

DEADLINE_S = 150.0


def settings_for(server: LocalLLMServer, tmp_path: Path, **extra: Any) -> LLMSettings:
    """Settings for the local server: bounded answers, a patient timeout, modes learned in ``tmp_path``."""
    fields: dict[str, Any] = {
        "base_url": server.base_url,
        "model": server.model,
        "max_output_tokens": 160,
        "timeout_s": 120.0,
        "deadline_s": DEADLINE_S,
        "max_retries": 1,
        "modes_file": tmp_path / "modes.json",
        **extra,
    }
    return LLMSettings(**fields)


def assert_grounded(runtime: AgentRuntime, response: AgentResponse) -> None:
    """Every shown item is in the catalog and meets the constraints the turn was checked against."""
    for item in response.items:
        assert runtime.catalog.has_item(item.item_id)
        assert runtime.catalog.violations(item.item_id, response.constraints) == []


def shape_failures(response: AgentResponse) -> list[str]:
    """Fallbacks caused by an HTTP error (a rejected request), as opposed to the model's content."""
    return [s.detail for s in response.trace if s.kind == "fallback" and "HTTP " in s.detail]


@pytest.mark.parametrize("mode", ["tool", "json_object", "prompted"])
def test_brain_plans_and_composes_in_each_mode_the_server_takes(
    real_llm: LocalLLMServer, llm_runtime: AgentRuntime, tmp_path: Path, mode: str
) -> None:
    brain = LLMBrain(settings_for(real_llm, tmp_path, output_mode=mode))
    started = time.monotonic()
    response = RecommenderAgent(llm_runtime, brain=brain).respond(
        "1", "some comedies from the 1990s", session_id=f"real-{mode}"
    )
    assert time.monotonic() - started < 2 * DEADLINE_S + 30  # plan and compose, each under its deadline
    assert response.reply
    assert shape_failures(response) == []
    assert response.usage.llm_calls >= 1
    assert response.usage.input_tokens > 0  # the server answered and reported usage
    assert_grounded(llm_runtime, response)


def test_auto_steps_down_from_a_rejected_mode_within_the_same_call(
    real_llm: LocalLLMServer, tmp_path: Path
) -> None:
    class Genre(BaseModel):
        genre: str

    client = LLMClient(settings_for(real_llm, tmp_path))
    assert client.modes is not None
    client.modes.candidates = ["json_schema", "json_object", "prompted"]  # as if tools were not offered
    books = CallBooks()
    question = Question("Name the genre of the movie.", Genre, "The genre.", max_tokens=40)

    async def ask() -> Genre:
        async with client.opened():
            return await client.ask(question, "The Naked Gun: a spoof of police dramas.", books)

    answer = asyncio.run(ask())
    assert isinstance(answer.genre, str)
    assert client.modes.rejected == ["json_schema"]  # llama.cpp refuses response_format json_schema
    assert books.step_downs == 1
    assert books.mode == "json_object"  # the answers came in the mode stepped down to
    assert json.loads((tmp_path / "modes.json").read_text())[client.settings.key] == [
        "json_object",
        "prompted",
    ]


def test_llm_policy_decides_among_the_offered_attributes(real_llm: LocalLLMServer, tmp_path: Path) -> None:
    space = AttributeSpace.from_item_attributes(
        {"a": ["g=x", "g=y"], "b": ["g=x"], "c": ["g=y", "g=z"], "d": ["g=z"], "e": ["g=x", "g=z"]}
    )
    policy = LLMPolicy(k=2, model=settings_for(real_llm, tmp_path), deadline_s=DEADLINE_S)
    action = policy.decide(DialogueState(session_id="s", user_id="u"), space)
    assert isinstance(action, Ask | Recommend)
    if isinstance(action, Ask):
        assert set(action.attributes) <= {"g=x", "g=y", "g=z"}
    assert policy.books.requests + len(policy.fallbacks) >= 1
    assert not [reason for reason in policy.fallbacks if "HTTP " in reason]


def test_crs_user_simulator_never_reveals_the_title(real_llm: LocalLLMServer, tmp_path: Path) -> None:
    title = "Shawshank Redemption, The (1994)"
    target = TargetItem(item_id="318", title=title, year=1994, genres=["Crime", "Drama"])
    persona = Persona(
        user_id="7",
        activity=0.5,
        conformity=0.5,
        diversity=0.2,
        rating_mean=4.1,
        rating_std=0.8,
        description="Likes dramas.",
    )
    goal = SimulationGoal(
        target=target,
        persona=persona,
        similar_liked=["Green Mile, The (1999)"],
        protected_terms=distinctive_terms(title),
    )
    simulator = LLMUserSimulator(settings_for(real_llm, tmp_path), attempts=1)
    said: SimulatorReply | SimulatorError
    try:
        said = asyncio.run(simulator.reply(goal, SimulatorContext(turn=1)))
    except SimulatorError as exc:  # the model's content failed: counted, with a one-line reason
        said = exc
    if isinstance(said, SimulatorError):
        assert "HTTP " not in said.reason
        assert "\n" not in said.reason
    else:
        assert said.utterance.strip()
        assert "shawshank" not in said.utterance.lower()
    assert said.llm_calls >= 1


def test_simulate_with_the_llm_engine_completes_and_reports(
    real_llm: LocalLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MAX_OUTPUT_TOKENS", "160")
    monkeypatch.setenv("RECPILOT_LLM_TIMEOUT_S", "120")
    monkeypatch.setenv("RECPILOT_LLM_MODES_FILE", str(tmp_path / "modes.json"))
    args = ["simulate", "--engine", "llm", "--llm", f"{real_llm.base_url}#{real_llm.model}"]
    args += ["--users", "5", "--sessions", "1", "--pages", "2", "--page-size", "4", "--concurrency", "2"]
    result = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["engine"], payload["user_sessions"]) == ("llm", 5)
    stats = payload["engine_stats"]
    assert stats["requests"] >= 1  # the model answered; fallbacks (its content) are counted, not fatal
    assert stats["failed"] <= stats["pages"] <= 10  # 5 users x at most 2 pages, each decided or counted
    assert stats["pages"] >= 5
    assert "Traceback" not in result.output


def test_serve_with_the_llm_answers_a_chat_turn(real_llm: LocalLLMServer, tmp_path: Path) -> None:
    from recpilot.api import create_app
    from recpilot.service import RecommenderService, ServiceConfig

    brain = LLMBrain(settings_for(real_llm, tmp_path))  # what `recpilot serve --llm URL#MODEL` builds
    config = ServiceConfig(home=tmp_path, store_url=f"sqlite:///{tmp_path / 'serve.db'}")
    service = RecommenderService.from_config(config, brain=brain)
    key = service.create_api_key("real-llm").key
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(service=service)) as client:
        session = client.post("/v1/sessions", json={"user_id": "ann"}, headers=headers).json()["session_id"]
        started = time.monotonic()
        reply = client.post(
            f"/v1/sessions/{session}/messages", json={"content": "a 90s comedy"}, headers=headers
        )
    assert reply.status_code == 200
    assert time.monotonic() - started < 2 * DEADLINE_S + 30
    body = reply.json()
    assert body["reply"]
    for item in body["items"]:
        assert item["item_id"]
