"""The free-form evaluation loop: success only when the target is shown, leaks and errors counted, the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from recpilot.agent import RecommenderAgent, build_runtime
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse, RecommendedItem
from recpilot.cli.app import main
from recpilot.crs import ConversationalRecommender
from recpilot.crs.freeform import (
    FreeformConfig,
    build_goal,
    converse,
    evaluate_freeform,
    sample_goals,
)
from recpilot.data.builtin import load_builtin
from recpilot.data.columns import Columns
from recpilot.data.splits import Split, leave_last_out
from recpilot.llm.settings import LLMSettings
from recpilot.simulation.crs_user import (
    LLMUserSimulator,
    RuleBasedUserSimulator,
    SimulationGoal,
    SimulatorOutput,
    goal_guard,
)
from recpilot.simulation.persona import build_personas
from recpilot.testing.llm_models import scripted_model
from recpilot.testing.llm_server import ScriptedLLMServer, reply_error, reply_output


@pytest.fixture(scope="module")
def split() -> Split:
    return leave_last_out(load_builtin())


@pytest.fixture(scope="module")
def runtime(split: Split, tmp_path_factory: pytest.TempPathFactory) -> AgentRuntime:
    """The agent fitted without the held-out items (item-kNN keeps it to seconds)."""
    roles = {"collaborative": "itemknn", "content": "content"}
    return build_runtime(split.train, roles=roles, cache_dir=tmp_path_factory.mktemp("freeform-models"))


@pytest.fixture(scope="module")
def goals(split: Split) -> list[SimulationGoal]:
    return sample_goals(split, 6, seed=3)


def _says(text: str, accept: str | None = None) -> dict[str, Any]:
    return {"utterance": text, "accept_item_id": accept, "leave": False}


def test_goals_are_held_out_liked_items_of_distinct_users(split: Split, goals: list[SimulationGoal]) -> None:
    train, test = split.train, split.test
    assert len({g.persona.user_id for g in goals}) == len(goals)
    for goal in goals:
        user = train.users.index_of(int(goal.persona.user_id))
        item = train.items.index_of(int(goal.target.item_id))
        held = test[(test[Columns.USER_IDX] == user) & (test[Columns.ITEM_IDX] == item)]
        assert len(held) == 1
        assert float(held[Columns.RATING].iloc[0]) >= 4.0
        seen = train.interactions[train.interactions[Columns.USER_IDX] == user][Columns.ITEM_IDX]
        assert item not in set(seen.tolist())
        assert goal.target.title not in goal.liked_titles
        assert goal.target.title not in goal.similar_liked
        # The same persona the population simulator gives this user: one grounding for both.
        assert goal.persona == build_personas(train, users=[user])[0]
        assert build_goal(train, user, item, common=frozenset()).persona == goal.persona
    assert sample_goals(split, 6, seed=3) == goals  # seeded


def test_success_is_exactly_the_first_turn_the_target_was_shown(
    runtime: AgentRuntime, goals: list[SimulationGoal]
) -> None:
    report = asyncio.run(
        evaluate_freeform(
            RecommenderAgent(runtime), RuleBasedUserSimulator(), goals, config=FreeformConfig(max_turns=4)
        )
    )
    assert report.n_conversations == len(goals)
    assert report.n_errors == 0
    for record in report.conversations:
        hits = [t.turn for t in record.turns if record.goal.target.item_id in {s.item_id for s in t.shown}]
        assert record.success_turn == (hits[0] if hits else None)
        assert (record.outcome == "success") == bool(hits)
        guard = goal_guard(record.goal)
        assert all(guard.leaks(t.user) == [] for t in record.turns)
    wins = sum(r.outcome == "success" for r in report.conversations)
    assert report.success_rate == pytest.approx(wins / len(goals))
    assert list(report.sr_at_turn.values()) == sorted(report.sr_at_turn.values())
    assert report.sr_at_turn[4] == pytest.approx(report.success_rate)


class _Oracle:
    """A conversational recommender that is not the agent: it shows the target on its second turn."""

    class brain:  # noqa: N801 - the protocol reads ``brain.name``
        name = "oracle"

    def __init__(self, target: RecommendedItem) -> None:
        self.target = target
        self.heard: list[str] = []

    def respond(self, user: str | int, message: str, *, session_id: str | None = None) -> AgentResponse:
        self.heard.append(message)
        items = [self.target] if len(self.heard) >= 2 else []
        return AgentResponse(
            user_id=str(user), session_id=session_id or "", reply="Here you go.", items=items
        )

    async def arespond(
        self, user: str | int, message: str, *, session_id: str | None = None
    ) -> AgentResponse:
        return self.respond(user, message, session_id=session_id)


def test_any_conversational_recommender_can_be_evaluated(goals: list[SimulationGoal]) -> None:
    goal = goals[0]
    oracle = _Oracle(RecommendedItem(item_id=goal.target.item_id, title=goal.target.title, score=1.0))
    agent: ConversationalRecommender = oracle
    report = asyncio.run(evaluate_freeform(agent, RuleBasedUserSimulator(), [goal]))
    assert report.agent_brain == "oracle"
    assert report.conversations[0].success_turn == 2
    assert report.sr_at_turn[1] == 0.0
    assert report.success_rate == 1.0
    assert len(oracle.heard) == 2


def test_the_simulators_accept_cannot_fake_success(
    runtime: AgentRuntime, goals: list[SimulationGoal]
) -> None:
    goal = goals[0]
    model = scripted_model(
        SimulatorOutput(utterance="Anything with zombies in space, please."),
        # It claims the target although the agent did not show it.
        SimulatorOutput(utterance="Perfect, that's it!", accept_item_id=goal.target.item_id),
    )
    record = asyncio.run(converse(RecommenderAgent(runtime), LLMUserSimulator(model), goal, max_turns=3))
    assert goal.target.item_id not in {s.item_id for s in record.turns[0].shown}
    assert record.outcome == "false_accept"
    assert record.success_turn is None
    assert record.turns[-1].claimed_accept == goal.target.item_id


def test_leaks_are_redacted_before_the_agent_sees_them(
    runtime: AgentRuntime, goals: list[SimulationGoal]
) -> None:
    goal = goals[1]
    leak = SimulatorOutput(utterance=f"Just show me {goal.target.title} please")
    model = scripted_model(*[leak] * 3)
    agent = RecommenderAgent(runtime)
    record = asyncio.run(converse(agent, LLMUserSimulator(model), goal, max_turns=1, session_id="leak-test"))
    assert record.leaks == 1
    assert record.turns[0].redacted
    said = [t.content for t in runtime.memory.turns("leak-test") if t.role == "user"]
    assert said
    assert goal_guard(goal).leaks(said[0]) == []


def test_llm_failures_error_one_conversation_and_the_run_goes_on(
    runtime: AgentRuntime, goals: list[SimulationGoal]
) -> None:
    # Conversation 1: every call fails (2 attempts x 2 HTTP tries); conversation 2: a clean message.
    script = [reply_error(502)] * 4 + [reply_output(_says("A comedy from the 1990s please."))]
    with ScriptedLLMServer(script) as server:
        settings = LLMSettings(base_url=server.base_url, model="sim", max_retries=1, backoff_s=0.0)
        report = asyncio.run(
            evaluate_freeform(
                RecommenderAgent(runtime),
                LLMUserSimulator(settings, attempts=2),
                goals[:2],
                config=FreeformConfig(max_turns=1, concurrency=1),
            )
        )
    first, second = report.conversations
    assert first.outcome == "error"
    assert "no usable answer" in (first.error or "")
    assert second.outcome in ("success", "failure")
    assert second.turns[0].agent
    assert report.n_errors == 1
    assert report.n_conversations == 2
    assert report.simulator_calls == 5


@pytest.mark.slow
def test_cli_runs_the_llm_simulator_against_a_loopback_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECPILOT_LLM_BACKOFF_S", "0")
    generic = reply_output(_says("Something light and funny from the 80s or 90s."))
    transcripts = tmp_path / "out" / "transcripts.json"
    with ScriptedLLMServer(exhausted=generic) as server:
        code = main(
            [
                "crs-chat-eval",
                "--llm",
                f"{server.base_url}#user-sim",
                "--users",
                "3",
                "--max-turns",
                "2",
                "--model",
                "itemknn",
                "--transcripts",
                str(transcripts),
                "--json",
            ]
        )
        requests = server.chat_requests
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["simulator"] == "llm"
    assert payload["agent_brain"] == "offline"
    assert payload["n_conversations"] == 3
    assert payload["n_errors"] == 0
    spoken = sum(len(c["turns"]) for c in payload["conversations"])
    assert len(requests) == payload["simulator_calls"] == spoken
    targets = {c["goal"]["target"]["title"] for c in payload["conversations"]}
    assert any(t in r.text() for r in requests for t in targets)  # the simulator knows its target
    assert json.loads(transcripts.read_text())["conversations"] == payload["conversations"]


def test_cli_rejects_a_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crs-chat-eval", "--users", "0"]) == 2
    assert "--users" in capsys.readouterr().err
