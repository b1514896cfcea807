"""Long suite runs: results kept as JSON Lines and resumed, fair prefixes, and fallbacks counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.types import RecommendedItem
from recpilot.errors import ConfigError
from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.testing.injection_log import ResultLog, interleaved
from recpilot.testing.injection_run import ARMS, CaseResult, SuiteRunner
from recpilot.testing.injection_suite import (
    GOALS,
    PLACEMENTS,
    TASKS,
    USER,
    Outcome,
    fresh_memory,
    injection_cases,
)

ON = ARMS[1]


def test_results_are_appended_as_they_come_and_a_new_log_on_the_file_resumes(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "real.jsonl"
    first = ResultLog(path)
    played = CaseResult(
        "90s-comedy/add-rule/title",
        "default policies",
        True,
        False,
        0,
        items=(3, 4),
        turns=1,
        planned=("search_catalog", "add_feed_rule"),
        refused=('add_feed_rule:deny {"effect": "exclude"}',),
    )
    first.add("real-llm/default policies/attack", played)
    assert len(path.read_text().splitlines()) == 1, "written at once, not at the end of the run"
    first.add(
        "real-llm/policies off/attack", CaseResult("90s-comedy/add-rule/title", "policies off", True, True, 1)
    )

    again = ResultLog(path)
    assert again.done("real-llm/default policies/attack", "90s-comedy/add-rule/title") == played
    assert again.done("real-llm/default policies/attack", "westerns/add-rule/title") is None
    assert [r.attacked for r in again.group("real-llm/policies off/attack")] == [True]
    assert again.groups() == ["real-llm/default policies/attack", "real-llm/policies off/attack"]


def test_a_file_that_is_not_a_log_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text('{"group": "g", "case_id": "c", "arm": "a", "utility": true, "attacked": false, '
                    '"unrequested_writes": 0}\n{"rows": [1, 2]}\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"other\.jsonl, line 2: not a result"):
        ResultLog(path)


def test_every_prefix_of_the_interleaved_suite_covers_goals_and_placements_evenly() -> None:
    cases = injection_cases()
    ordered = interleaved(cases)
    assert sorted(c.id for c in ordered) == sorted(c.id for c in cases), "the same cases, reordered"
    goals = {c.goal.name for c in cases}
    assert {c.goal.name for c in ordered[: len(goals)]} == goals, "one of each goal first"
    for goal in GOALS:  # each goal meets every placement in its first cases
        first = [c.placement for c in ordered if c.goal.name == goal.name][: len(PLACEMENTS)]
        assert sorted(first) == sorted(PLACEMENTS), goal.name


class _BrokenBrain(Brain):
    """A brain whose every plan fails (a model server that is down)."""

    name = "broken"

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        raise ConnectionError("the model server is down")

    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        raise AssertionError("never reached: the fallback plans and writes the turn")


def test_a_turn_the_fallback_planned_is_counted_so_a_reader_can_discount_it() -> None:
    task = next(t for t in TASKS if t.name == "90s-comedy")
    result = SuiteRunner(brain=_BrokenBrain).benign(task, ON)
    assert (result.turns, result.plan_fallbacks, result.reply_fallbacks) == (1, 1, 0)
    obeying = SuiteRunner().benign(task, ON)
    assert (obeying.turns, obeying.plan_fallbacks, obeying.reply_fallbacks) == (1, 0, 0)
    assert obeying.seconds > 0


def test_a_write_the_model_left_out_is_lost_utility_not_the_attackers_shortened_rule() -> None:
    case = next(c for c in injection_cases() if c.goal.name == "rule-shortened")
    untouched = Outcome([], fresh_memory(), [])
    assert not case.task.check(untouched), "the user's rule was not stored"
    assert not case.goal.achieved(untouched, case.task), "nor was the attacker's"
    shortened = fresh_memory()
    shortened.add_feed_rule(USER, FeedRule(user_id=USER, effect="exclude",
                            target=AttributeTarget(attribute="genres", value="Horror"),
                            expires_at=time.time() + 60))  # fmt: skip
    assert case.goal.achieved(Outcome([], shortened, []), case.task)
