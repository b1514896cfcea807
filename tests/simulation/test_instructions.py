"""Reflective instructions (RecoWorld), copies of a persona against the agent, and the agent's exclusions."""

from __future__ import annotations

import asyncio
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _s1_data import clustered_dataset

from recpilot.agent import RecommenderAgent, build_runtime
from recpilot.cli.app import main
from recpilot.data.dataset import Dataset
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.environment import AgentRecommender, InstructableRecommender, ModelRecommender
from recpilot.simulation.instructions import gives_instruction, reflective_instruction
from recpilot.simulation.journal import SummaryTotals, records_to_frames
from recpilot.simulation.llm_engine import LLMDecisionEngine
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import (
    Instruction,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    ShownItem,
    SimAction,
    SimColumns,
    SimulationConfig,
    SimulationResult,
    UserState,
)
from recpilot.testing.llm_models import scripted_model

GENRE = {"d1": "Drama", "d2": "Drama", "d3": "Drama", "c1": "Comedy", "c2": "Comedy", "h1": "Horror"}
GENRE |= {"h2": "Horror", "h3": "Horror", "h4": "Horror", "w1": "Western"}


def _genres(item: str) -> list[str]:
    return [GENRE[item]] if item in GENRE else []


def _persona(history: list[str]) -> Persona:
    return Persona(
        user_id="u",
        history=history,
        activity=0.5,
        conformity=0.5,
        diversity=0.5,
        rating_mean=3.5,
        rating_std=1,
    )


def _page(index: int, items: list[str]) -> Page:
    return Page(session=0, index=index, items=[ShownItem(item_id=i, position=p) for p, i in enumerate(items)])


def test_instruction_names_the_disappointing_genre_outside_the_taste() -> None:
    persona = _persona(["d1", "d2", "d3", "c1", "c2"])  # Drama 0.6, Comedy 0.4
    pages = [_page(0, ["h1", "h2", "d1"]), _page(1, ["h3", "c1", "h4"])]
    liked_click = [SimAction(kind="click", item_id="d1"), SimAction(kind="rate", item_id="d1", rating=5.0)]
    decisions = [PageDecision(actions=liked_click), PageDecision(leave=True)]
    assert reflective_instruction(persona, pages, decisions, _genres) == "no more horror films"


def test_instruction_asks_for_the_missing_taste_and_stays_silent_when_taste_was_shown() -> None:
    persona = _persona(["d1", "d2", "d3", "c1", "c2"])
    # Drama and Comedy shown evenly and not liked: no excess outside the taste, Drama under-shown
    mixed = [_page(0, ["d1", "c1"])]
    assert reflective_instruction(persona, mixed, [PageDecision(leave=True)], _genres) == "more drama films"
    # exactly the taste shown: nothing to ask for
    taste = [_page(0, ["d1", "d2", "d3", "c1", "c2"])]
    assert reflective_instruction(persona, taste, [PageDecision(leave=True)], _genres) is None
    assert reflective_instruction(_persona(["zz"]), taste, [PageDecision(leave=True)], _genres) is None


def test_instruction_draw_is_seeded_and_follows_the_probability() -> None:
    draws = [gives_instruction(seed, 2, 0.3) for seed in range(4000)]
    assert draws == [gives_instruction(seed, 2, 0.3) for seed in range(4000)]
    assert 0.27 < np.mean(draws) < 0.33
    assert all(gives_instruction(s, 0, 1.0) for s in range(50))
    assert not any(gives_instruction(s, 0, 0.0) for s in range(50))


def test_retention_outcome_on_a_hand_made_case() -> None:
    def record(
        user: str, pages: int, exit_page: int | None, instruction: Instruction | None
    ) -> SessionRecord:
        return SessionRecord(
            user_id=user,
            session=0,
            pages=[_page(p, [f"i{p}"]) for p in range(pages)],
            decisions=[PageDecision() for _ in range(pages)],
            exit_page=exit_page,
            instruction=instruction,
        )

    records = [
        record(
            "a", 5, None, Instruction(page=1, text="no more horror films", acted_on=True)
        ),  # kept to the end
        record("b", 3, 2, Instruction(page=1, text="more drama films", acted_on=True)),  # left right after
        record("c", 5, 3, Instruction(page=1, text="more drama films", acted_on=True)),  # left later
        record("d", 2, 1, Instruction(page=1, text="no more horror films", acted_on=False)),  # unheard
        record("e", 5, None, None),
        record("f", 1, 0, None),
    ]
    items, sessions = records_to_frames("run", [(r.user_id, r) for r in records])
    assert sessions[SimColumns.INSTRUCTION].tolist()[:2] == ["no more horror films", "more drama films"]
    outcome = SummaryTotals.of(items, sessions, np.array(["i0"]), _no_genres()).metrics(1, instructions=True)
    said = outcome["instructions"]
    assert (said.given, said.acted_on, said.retained_after) == (4, 3, 2)
    assert said.retention_with_instructions == pytest.approx(2 / 6)
    assert said.retention_without == pytest.approx(1 / 6)  # "a" would have left at its instruction
    assert "instructions" not in SummaryTotals.of(items, sessions, np.array(["i0"]), _no_genres()).metrics(1)


def _no_genres() -> object:
    import scipy.sparse as sp

    return sp.csr_matrix((1, 0))


@cache
def _data() -> Dataset:
    return clustered_dataset()


@cache
def _agent() -> RecommenderAgent:
    return RecommenderAgent(build_runtime(_data()))


def _genre_share(items: list[str], genre: str) -> float:
    catalog = _data().catalog.set_index("item_id")["genres"]
    return float(np.mean([genre in catalog[int(i)] for i in items]))


def test_agent_acts_on_no_more_horror_and_copies_keep_separate_memory() -> None:
    rec = AgentRecommender(_agent())
    assert isinstance(rec, InstructableRecommender)
    assert not isinstance(ModelRecommender.__new__(ModelRecommender), InstructableRecommender)
    horror_fan = "3"  # cluster 2 of the clustered data: Horror

    async def scenario() -> tuple[list[str], list[str], list[str], bool]:
        first = await rec.arecommend_for("3#0", horror_fan, [], 10, [])
        acted = await rec.ainstruct("3#0", horror_fan, "no more horror films")
        later = await rec.arecommend_for("3#0", horror_fan, [], 10, first)
        copy = await rec.arecommend_for("3#1", horror_fan, [], 10, [])
        return first, later, copy, acted

    first, later, copy, acted = asyncio.run(scenario())
    assert acted
    assert _genre_share(first, "Horror") >= 0.5
    assert _genre_share(later, "Horror") == 0.0
    # the second copy of the persona has its own memory: no feed rule, its horror is back
    assert _genre_share(copy, "Horror") >= 0.5
    assert rec.agent_for("3#1", horror_fan) is not rec.agent_for("3#0", horror_fan)
    assert rec.agent_for("3#1", horror_fan).runtime.memory.feed_rules(horror_fan) == []


def test_agent_under_simulation_honours_exclude_with_full_pages() -> None:
    rec = AgentRecommender(_agent())
    user = "6"

    async def pages() -> tuple[list[str], list[str]]:
        first = await rec.arecommend_for("6#0", user, [], 10, [])
        banned = [*first, "1", "2", "5"]
        return banned, await rec.arecommend_for("6#0", user, [], 10, banned)

    banned, second = asyncio.run(pages())
    assert len(second) == 10
    assert not set(second) & set(banned)


def _run(instructions: bool) -> tuple[SimulationRunner, SimulationResult]:
    config = SimulationConfig(
        users=24, sessions=1, pages=5, page_size=4, seed=5, recommender="agent", instructions=instructions
    )
    # a fussy user model: leaves soon when a page brings no liked click
    run = build_simulation(config, dataset=_data())
    run.engine.behaviour = run.engine.behaviour.model_copy(  # type: ignore[attr-defined]
        update={"leave_satisfaction": 0.5, "leave_inactive": 0.0}
    )
    runner = SimulationRunner(run)
    return runner, runner.run_sync()


def test_runner_reports_retention_with_and_without_instructions_exactly() -> None:
    (off, without), (on, result) = _run(False), _run(True)
    assert without.instructions is None
    said = result.instructions
    assert said is not None
    assert said.given > 0
    assert said.acted_on == said.given  # the agent understands every instruction it is given
    stayed_off = float(off.sessions[SimColumns.STAYED].mean())
    # pages before an instruction do not depend on it: the counterfactual is the run without them
    assert said.retention_without == pytest.approx(stayed_off)
    assert said.retention_with_instructions >= said.retention_without
    given = on.sessions[on.sessions[SimColumns.INSTRUCTION] != ""]
    assert given[SimColumns.INSTRUCTION].str.match(r"^(no more|more) [a-z-]+ films$").all()
    # a heard instruction means another page: the user is never recorded leaving at it
    assert (given[SimColumns.EXIT_PAGE].astype("float64") != given[SimColumns.INSTRUCTION_PAGE]).all()
    assert (off.sessions[SimColumns.INSTRUCTION] == "").all()


def _ratings_csv(path: Path) -> Path:
    """The test dataset's ratings as a CSV file with external ids, for the CLI."""
    data = _data()
    frame = data.interactions
    pd.DataFrame(
        {
            "user_id": data.users.to_external(frame["user_idx"]),
            "item_id": data.items.to_external(frame["item_idx"]),
            "rating": frame["rating"],
            "timestamp": frame["timestamp"],
        }
    ).to_csv(path, index=False)
    return path


def test_cli_instructions_flag(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    path = str(_ratings_csv(Path(f"{tmp_path}/ratings.csv")))
    argv = ["simulate", "-d", path, "-r", "pop", "--users", "6", "--pages", "3", "--instructions", "--json"]
    assert main([*argv, "--report", f"{tmp_path}/report.html"]) == 0
    payload = json.loads(capsys.readouterr().out)
    html = Path(payload["report"]).read_text(encoding="utf-8")
    assert "<th>instructions.retention_without</th>" in html
    said = payload["instructions"]
    assert said["acted_on"] == 0  # a plain model takes no instructions
    assert said["retention_with_instructions"] == said["retention_without"]
    assert main(argv[:-1]) == 0  # the table, then one line on instructions
    assert re.search(r"instructions: \d+ given, 0 acted on", capsys.readouterr().out)


def test_llm_engine_words_the_instruction_and_falls_back_to_the_rule() -> None:
    persona = _persona(["d1", "d2", "d3", "c1", "c2"])
    pages = [_page(0, ["h1", "h2"])]
    decisions = [PageDecision(leave=True)]
    too_long = {"instruction": " ".join(["horror"] * 20)}
    model = scripted_model(too_long, {"instruction": "  please,  no more   horror films "})
    engine = LLMDecisionEngine(model)
    text = asyncio.run(engine.ainstruction(persona, UserState(), pages, decisions, "no more horror films"))
    assert text == "please, no more horror films"
    assert len(model.calls) == 2  # the overlong answer was sent back
    prompt = str(model.calls[0].messages)
    assert "h1" in prompt
    assert "no more horror films" in prompt
    failing = LLMDecisionEngine(scripted_model(*[{"instruction": ""}] * 10))  # never usable: the rule stands
    assert asyncio.run(failing.ainstruction(persona, UserState(), pages, decisions, "more drama films")) == (
        "more drama films"
    )


def test_runner_gives_each_copy_of_a_persona_its_own_agent_session() -> None:
    data = clustered_dataset(n_users=4, n_items=40, per_user=10)
    config = SimulationConfig(users=8, sessions=1, pages=2, page_size=3, seed=1, recommender="agent")
    run = build_simulation(config, dataset=data)
    runner = SimulationRunner(run)
    runner.run_sync()
    rec = run.recommender
    assert isinstance(rec, AgentRecommender)
    copies = {u.sim_id: u.persona.user_id for u in run.population}
    assert len(set(copies.values())) < len(copies)  # some personas run twice
    agents = {sim: rec.agent_for(sim, user) for sim, user in copies.items()}
    for sim, user in copies.items():
        twins = [other for other, owner in copies.items() if owner == user and other != sim]
        assert all(agents[t].runtime.memory is not agents[sim].runtime.memory for t in twins)
        memory = agents[sim].runtime.memory
        assert memory.dialogue_state(f"sim:{sim}") is not None  # each copy talked in its own session
