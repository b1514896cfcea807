"""The acceptance set: its checker catches bad answers, and the offline brain passes every case."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recpilot.agent.acceptance import ACCEPTANCE_CASES, NEW, acceptance_report, check_case
from recpilot.agent.acceptance_checks import CheckContext
from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse, RecommendedItem, TraceStep
from recpilot.memory.base import InMemoryProfileMemory
from recpilot.tools.recommender_tools import RECOMMENDER_TOOLS

PASS_RATE = 1.0  # every case must pass


def case(case_id: str) -> object:
    return next(c for c in ACCEPTANCE_CASES if c.id == case_id)


def test_the_set_is_large_varied_and_well_formed() -> None:
    ids = [c.id for c in ACCEPTANCE_CASES]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)
    assert {"1", "414", NEW} <= {c.user for c in ACCEPTANCE_CASES}
    assert all(c.checks for c in ACCEPTANCE_CASES)


def fake(
    runtime: AgentRuntime, item_ids: list[int], reply: str = "", trace: list[TraceStep] | None = None
) -> AgentResponse:
    catalog = runtime.catalog
    items = [RecommendedItem(item_id=i, title=catalog.title(i), score=1.0) for i in item_ids]
    return AgentResponse(user_id="1", session_id="s", reply=reply, items=items, trace=trace or [])


def context(runtime: AgentRuntime, user: str = "1") -> CheckContext:
    return CheckContext(catalog=runtime.catalog, memory=InMemoryProfileMemory(), user_id=user)


def test_the_checker_rejects_what_a_user_would_reject(runtime: AgentRuntime) -> None:
    comedy_90s = case("90s-comedy-new")
    # Toy Story 2 (1999, comedy) is right; Heat (1995, no comedy) and Toy Story (seen by user 1) are not.
    wrong = check_case(comedy_90s, fake(runtime, [3114, 6, 2355, 1777, 2396]), context(runtime))  # type: ignore[arg-type]
    assert any("AllGenres" in r and "Heat (1995)" in r for r in wrong)
    too_few = check_case(comedy_90s, fake(runtime, [3114]), context(runtime))  # type: ignore[arg-type]
    assert any("MinItems" in r for r in too_few)
    seen = check_case(case("90s-comedy-1"), fake(runtime, [1, 3114, 2355, 1777, 2396]), context(runtime))  # type: ignore[arg-type]
    assert any("SeenExcluded" in r and "Toy Story (1995)" in r for r in seen)


def test_the_checker_reads_traces_and_replies(runtime: AgentRuntime) -> None:
    failed_call = TraceStep(kind="tool_call", name="search_catalog", ok=False, detail="bad")
    reasons = check_case(case("sql"), fake(runtime, [], "no", [failed_call]), context(runtime))  # type: ignore[arg-type]
    assert reasons == ["NoToolErrors: search_catalog failed: bad"]
    details = check_case(case("details-matrix"), fake(runtime, [], "It is a film."), context(runtime))  # type: ignore[arg-type]
    assert any("1999" in r for r in details)
    assert any("item_details" in r for r in details)


@pytest.fixture(scope="module")
def report(runtime: AgentRuntime) -> dict[str, Any]:
    """The offline brain over the whole set, on a memory of its own (cases write preferences)."""
    fresh = AgentRuntime(runtime.catalog, runtime.models, InMemoryProfileMemory())
    return acceptance_report(RecommenderAgent(fresh, tools=RECOMMENDER_TOOLS))


def test_offline_brain_passes_the_acceptance_set(report: dict[str, Any]) -> None:
    print(
        f"\noffline brain: {report['passed']}/{report['cases']} = {report['pass_rate']:.1%}, "
        f"latency {report['latency_ms']}"
    )
    for failure in report["failures"]:
        print(json.dumps(failure, ensure_ascii=False))
    assert report["pass_rate"] >= PASS_RATE, report["failures"]
