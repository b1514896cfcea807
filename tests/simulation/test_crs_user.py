"""The simulated users: the title guard, leak retries and redaction, LLM failures, the rule-based engine."""

from __future__ import annotations

import asyncio

import pytest

from recpilot.conversation.leakguard import TitleGuard, distinctive_terms, title_forms
from recpilot.llm.settings import LLMSettings
from recpilot.simulation.crs_user import (
    LLMUserSimulator,
    RuleBasedUserSimulator,
    SimulationGoal,
    SimulatorContext,
    SimulatorError,
    SimulatorOutput,
    TargetItem,
    goal_guard,
    simulator_prompt,
)
from recpilot.simulation.types import Persona, ShownItem
from recpilot.testing.llm_models import scripted_model
from recpilot.testing.llm_server import (
    ScriptedLLMServer,
    reply_delayed,
    reply_error,
    reply_malformed,
    reply_output,
    reply_text,
)

SHAWSHANK = "Shawshank Redemption, The (1994)"


def _goal(title: str = SHAWSHANK, **target: object) -> SimulationGoal:
    item = TargetItem(item_id="318", title=title, year=1994, genres=["Crime", "Drama"], **target)  # type: ignore[arg-type]
    persona = Persona(
        user_id="7",
        activity=0.5,
        conformity=0.5,
        diversity=0.2,
        rating_mean=4.1,
        rating_std=0.8,
        description="Likes dramas.",
    )
    return SimulationGoal(
        target=item,
        persona=persona,
        liked_titles=["Forrest Gump (1994)"],
        similar_liked=["Green Mile, The (1999)"],
        protected_terms=distinctive_terms(title),
    )


def _fast(server: ScriptedLLMServer) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, model="sim", max_retries=1, backoff_s=0.0, timeout_s=5.0)


@pytest.mark.parametrize(
    "text",
    [
        "I loved The Shawshank Redemption",
        "something like shawshank redemption please",
        "the Shawshenk one with the prison",  # misspelt distinctive word
        "a story of REDEMPTION in prison",
    ],
)
def test_guard_catches_the_title_and_its_distinctive_words(text: str) -> None:
    guard = TitleGuard.for_title(SHAWSHANK)
    assert guard.leaks(text)
    redacted = guard.redact(text)
    assert guard.leaks(redacted) == []
    assert "prison" in redacted or "please" in redacted or "loved" in redacted.lower()


def test_guard_lets_descriptions_through() -> None:
    guard = TitleGuard.for_title(SHAWSHANK)
    assert guard.leaks("A hopeful prison drama from the 1990s, like The Green Mile.") == []


def test_guard_knows_alternate_titles_and_leaves_common_words_alone() -> None:
    title = "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert "la cite des enfants perdus" in title_forms(title), "forms are compared without accents"
    guard = TitleGuard.for_title(title, distinctive_terms(title, common={"city", "lost", "children", "des"}))
    assert guard.leaks("I want La Cité des enfants perdus")
    assert guard.leaks("a city with lost children in it") == []
    assert guard.leaks("the city of lost children")  # the whole title still counts


@pytest.mark.parametrize("text", ["I'd love Amelie again", "something like AMÉLIE", "le fabuleux destin"])
def test_guard_ignores_accents(text: str) -> None:
    # "Amelie" reveals "Amélie" as surely as the accented spelling; the fuzzy match alone missed it.
    title = "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)".replace("Amelie", "Amélie", 1)
    guard = TitleGuard.for_title(title)
    assert guard.leaks(text)
    assert guard.leaks(guard.redact(text)) == []


def test_rule_based_user_never_says_the_title_and_accepts_only_the_target() -> None:
    goal = _goal(tags=["shawshank", "prison escape", "morgan freeman"])
    goal.similar_liked = ["Shawshank Redemption 2 (2030)", "Green Mile, The (1999)"]
    simulator = RuleBasedUserSimulator()
    guard = goal_guard(goal)
    shown = [ShownItem(item_id="1", position=0, title="Toy Story (1995)")]
    for turn in range(1, 6):
        said = asyncio.run(simulator.reply(goal, SimulatorContext(turn=turn, shown=shown)))
        assert guard.leaks(said.utterance) == []
        assert not said.redacted
        assert said.accept_item_id is None
    assert "prison escape" in said.utterance
    assert "Green Mile" in said.utterance
    found = [*shown, ShownItem(item_id="318", position=1, title=SHAWSHANK)]
    said = asyncio.run(simulator.reply(goal, SimulatorContext(turn=2, shown=found)))
    assert said.accept_item_id == "318"


def test_the_llm_user_is_told_its_persona_and_what_was_shown() -> None:
    shown = [ShownItem(item_id="1", position=0, title="Toy Story (1995)")]
    prompt = simulator_prompt(_goal(), SimulatorContext(turn=2, shown=shown), [])
    assert "Your taste: Likes dramas." in prompt  # the population persona's description
    assert "Movies you liked: Forrest Gump (1994)" in prompt
    assert "similar to the target: Green Mile, The (1999)" in prompt
    assert "- [1] Toy Story (1995)" in prompt


def test_a_leaking_draft_is_asked_for_again_with_feedback() -> None:
    model = scripted_model(
        SimulatorOutput(utterance="Do you have The Shawshank Redemption?"),
        SimulatorOutput(utterance="A hopeful prison drama from the 90s."),
    )
    said = asyncio.run(LLMUserSimulator(model).reply(_goal(), SimulatorContext(turn=1)))
    assert said.utterance == "A hopeful prison drama from the 90s."
    assert said.leak_retries == 1
    assert not said.redacted
    assert "revealed the title" in model.calls[1].prompt
    assert "Shawshank" in model.calls[0].prompt  # the simulator itself knows its target


def test_a_simulator_that_keeps_leaking_is_redacted_and_counted() -> None:
    leak = SimulatorOutput(utterance="I want The Shawshank Redemption, the prison one.")
    model = scripted_model(leak, leak, leak)
    said = asyncio.run(LLMUserSimulator(model, max_leak_retries=2).reply(_goal(), SimulatorContext(turn=1)))
    assert said.redacted
    assert said.leak_retries == 3
    assert goal_guard(_goal()).leaks(said.utterance) == []
    assert "prison" in said.utterance
    assert model.remaining == 0


def test_leak_is_caught_over_http_with_the_real_client() -> None:
    leaky = {"utterance": "Something like shawshank redemtion", "accept_item_id": None, "leave": False}
    clean = {"utterance": "A prison drama with a long friendship", "accept_item_id": None, "leave": False}
    with ScriptedLLMServer([reply_output(leaky), reply_output(clean)]) as server:
        said = asyncio.run(LLMUserSimulator(_fast(server)).reply(_goal(), SimulatorContext(turn=1)))
        assert said.utterance == clean["utterance"]
        assert said.leak_retries == 1
        assert said.llm_calls == 2
        assert "redemtion" in server.chat_requests[1].text()  # the rejected draft is fed back


def test_server_errors_are_retried_then_reported() -> None:
    # 2 attempts x (1 try + 1 HTTP retry), all failing.
    with ScriptedLLMServer([reply_error(503)] * 4) as server:
        simulator = LLMUserSimulator(_fast(server), attempts=2)
        with pytest.raises(SimulatorError, match="gave no usable answer"):
            asyncio.run(simulator.reply(_goal(), SimulatorContext(turn=1)))
        assert len(server.chat_requests) == 4


@pytest.mark.parametrize(
    "failure",
    [reply_malformed(), reply_error(500), reply_text("not a tool call, just prose")],
    ids=["malformed body", "5xx", "no structured output"],
)
def test_a_failed_call_is_retried_and_recovers(failure: object) -> None:
    good = {"utterance": "A crime drama please", "accept_item_id": None, "leave": False}
    with ScriptedLLMServer([failure, failure, reply_output(good)]) as server:  # type: ignore[list-item]
        said = asyncio.run(
            LLMUserSimulator(_fast(server), attempts=3, output_retries=1).reply(
                _goal(), SimulatorContext(turn=1)
            )
        )
        assert said.utterance == "A crime drama please"
        assert said.llm_calls == 3


def test_schema_violations_get_validation_feedback() -> None:
    good = {"utterance": "A crime drama please", "leave": False}
    with ScriptedLLMServer([reply_output({"utterance": 42, "mood": "x"}), reply_output(good)]) as server:
        said = asyncio.run(
            LLMUserSimulator(_fast(server), output_retries=1).reply(_goal(), SimulatorContext(turn=1))
        )
        assert said.utterance == "A crime drama please"
        assert len(server.chat_requests) == 2


def test_a_timed_out_call_is_retried() -> None:
    good = reply_output({"utterance": "A crime drama please", "leave": False})
    with ScriptedLLMServer([reply_delayed(3.0, good), good]) as server:
        settings = LLMSettings(base_url=server.base_url, model="sim", max_retries=0, timeout_s=0.5)
        said = asyncio.run(LLMUserSimulator(settings, attempts=2).reply(_goal(), SimulatorContext(turn=1)))
        assert said.utterance == "A crime drama please"
        assert said.llm_calls == 2
