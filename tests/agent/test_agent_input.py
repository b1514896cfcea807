"""The agent's own handling of bad input: empty and over-long messages, unknown users."""

from __future__ import annotations

import pytest

from recpilot.agent.agent import MAX_MESSAGE_CHARS, RecommenderAgent
from recpilot.agent.runtime import AgentRuntime


@pytest.mark.parametrize("message", ["", "   \n\t "])
def test_an_empty_message_gets_a_prompt_and_runs_no_tool(runtime: AgentRuntime, message: str) -> None:
    response = RecommenderAgent(runtime).respond(1, message)
    assert "mood" in response.reply
    assert response.items == []
    assert not response.trace


def test_an_over_long_message_is_refused_clearly(runtime: AgentRuntime) -> None:
    response = RecommenderAgent(runtime).respond(1, "comedy " * (MAX_MESSAGE_CHARS // 7 + 1))
    assert f"{MAX_MESSAGE_CHARS:,}" in response.reply
    assert response.items == []
    assert not response.trace


def test_an_unknown_user_gets_the_cold_start_path(runtime: AgentRuntime) -> None:
    response = RecommenderAgent(runtime).respond("someone-new", "a film noir")
    assert len(response.items) >= 3
    assert all("Film-Noir" in item.attributes["genres"] for item in response.items)
    assert all(step.ok for step in response.trace if step.kind == "tool_call")
