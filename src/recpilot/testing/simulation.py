"""The contract every simulator engine must honour, as a pytest mixin.

Usage in a test module::

    class TestOfflineEngine(DecisionEngineContract):
        def make_engine(self, scenario: EngineScenario) -> DecisionEngine:
            return OfflineEngine(seed=0).fit(scenario.dataset)

Each check runs over several user-session seeds, on a page of catalog items the persona has not
seen, on a later page of a tired and unhappy user, and on an empty page. :func:`decision_problems`
is the check itself, usable on its own (e.g. over a whole simulated run).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.persona import build_personas
from recpilot.simulation.types import (
    Interview,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    ShownItem,
    UserState,
)
from recpilot.testing.datasets import known_answer_dataset
from recpilot.testing.llm_models import ScriptedModel, scripted_model

_ITEM_ACTIONS = frozenset({"view", "click", "rate", "skip"})


@dataclass(frozen=True)
class EngineScenario:
    """What the contract shows an engine.

    Attributes:
        dataset: The data the persona and the page come from (fit data-driven engines on it).
        persona: A persona grounded on a real user of ``dataset``.
        page: Catalog items the persona has not interacted with, with titles and genres.
        rating_range: The dataset's lowest and highest rating.
    """

    dataset: Dataset
    persona: Persona
    page: Page
    rating_range: tuple[float, float]


def engine_scenario(dataset: Dataset | None = None, *, page_size: int = 6) -> EngineScenario:
    """A scenario on ``dataset`` (default: the known-answer dataset): its first persona and a fresh page."""
    data = dataset if dataset is not None else known_answer_dataset().dataset
    persona = build_personas(data)[0]
    seen = set(persona.history)
    catalog = data.catalog
    titles = catalog[Columns.TITLE].astype(str).tolist() if Columns.TITLE in catalog else None
    genres = catalog["genres"].tolist() if "genres" in catalog else None
    items: list[ShownItem] = []
    for row, item in enumerate(catalog[Columns.ITEM].astype(str).tolist()):
        if item in seen:
            continue
        attributes = {"genres": [str(g) for g in genres[row]]} if genres is not None else {}
        title = titles[row] if titles is not None else ""
        items.append(ShownItem(item_id=item, position=len(items), title=title, attributes=attributes))
        if len(items) == page_size:
            break
    ratings = data.interactions[Columns.RATING]
    return EngineScenario(
        data, persona, Page(session=0, index=0, items=items), (float(ratings.min()), float(ratings.max()))
    )


def decision_problems(
    decision: PageDecision, page: Page, rating_range: tuple[float, float] | None = None
) -> list[str]:
    """Why ``decision`` is not a valid reaction to ``page`` (empty when it is).

    Valid: every item action names an item on the page at its position; each item gets at most one
    of view, click or skip and at most one rating, which follows its click and lies in
    ``rating_range``; only ``rate`` carries a rating; a ``leave`` action names no item, comes at
    most once, and is there exactly when ``decision.leave`` is true.
    """
    problems: list[str] = []
    positions = {item.item_id: item.position for item in page.items}
    outcomes: Counter[str] = Counter()
    clicked: set[str] = set()
    rated: Counter[str] = Counter()
    for action in decision.actions:
        if action.kind == "leave":
            if action.item_id is not None or action.rating is not None:
                problems.append(f"a leave action names item {action.item_id!r} or a rating")
            continue
        item = action.item_id
        if item is None or item not in positions:
            problems.append(f"{action.kind} of {item!r}, which is not on the page")
            continue
        if action.position != positions[item]:
            problems.append(
                f"{action.kind} of {item} at position {action.position}, shown at {positions[item]}"
            )
        if action.kind == "rate":
            rated[item] += 1
            if item not in clicked:
                problems.append(f"item {item} is rated before (or without) a click")
            if action.rating is None:
                problems.append(f"the rating of {item} is missing")
            elif rating_range is not None and not rating_range[0] <= action.rating <= rating_range[1]:
                problems.append(f"rating {action.rating} of {item} is outside {rating_range}")
            continue
        if action.rating is not None:
            problems.append(f"a {action.kind} action carries a rating")
        outcomes[item] += 1
        if action.kind == "click":
            clicked.add(item)
    problems += [f"item {i} has {n} outcomes (view, click, skip)" for i, n in outcomes.items() if n > 1]
    problems += [f"item {i} is rated {n} times" for i, n in rated.items() if n > 1]
    if len(outcomes) > len(page.items):
        problems.append(f"{len(outcomes)} items acted on for a page of {len(page.items)}")
    leaves = sum(a.kind == "leave" for a in decision.actions)
    if leaves > 1 or bool(leaves) != decision.leave:
        problems.append(f"leave is {decision.leave} but the actions hold {leaves} leave action(s)")
    if decision.fatigue is not None and not 0.0 <= decision.fatigue <= 1.0:
        problems.append(f"fatigue {decision.fatigue} is outside [0, 1]")
    return problems


def _answer_from_prompt(messages: list[Any], info: Any) -> dict[str, Any]:
    """A stand-in user: opens the page's second item (rated on the page's scale), leaves on page 3+."""
    text = str(messages[-1].parts[-1].content)
    if "## The page" not in text:  # the interview: names the items it opened
        opened = re.findall(r"click \[([^\]]+)\]", text)
        return {"reason": "saw what I wanted", "satisfaction": 0.6, "liked": opened[:1], "disliked": []}
    ids = re.findall(r"^\d+\. \[([^\]]+)\]", text.split("## The page")[1], re.MULTILINE)
    scale = re.search(r"scale from (\S+) to (\S+?)\.", text)
    page = re.search(r"page (\d+)\.", text)
    low, high = (float(x) for x in scale.groups()) if scale else (1.0, 5.0)
    page_number = int(page.group(1)) if page else 1
    clicked = (
        [{"item_id": ids[1], "rating": (low + high) / 2, "reason": "looks good"}] if len(ids) > 1 else []
    )
    return {"clicked": clicked, "leave": page_number >= 3, "satisfaction": 0.6, "reason": "fine"}


def page_answering_model(pages: int = 100) -> ScriptedModel:
    """A scripted model for the LLM engine: on each page it opens the second item and rates it in the
    middle of the scale, and leaves from page 3 on; in interviews it likes what it opened."""
    return scripted_model(*[_answer_from_prompt] * pages)


class DecisionEngineContract:
    """Behaviour shared by all decision engines; subclass and implement :meth:`make_engine`.

    Class attributes:
        seeds: The user-session seeds every check runs over.
        rating_range: The scale ratings must lie in (default: the scenario's, i.e. the data's).
    """

    seeds: ClassVar[tuple[int, ...]] = (0, 1, 2, 3)
    rating_range: ClassVar[tuple[float, float] | None] = None

    def make_engine(self, scenario: EngineScenario) -> DecisionEngine:
        """A fresh engine, ready to decide for ``scenario.persona`` (fitted when it needs data)."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def scenario(cls) -> EngineScenario:
        return engine_scenario()

    def _range(self, scenario: EngineScenario) -> tuple[float, float]:
        return self.rating_range or scenario.rating_range

    def _state(self, engine: DecisionEngine, scenario: EngineScenario, seed: int) -> UserState:
        return engine.initial_state(scenario.persona).model_copy(update={"seed": seed})

    # -- the contract ----------------------------------------------------------------------------------------

    def test_decisions_are_typed_and_on_the_page(self, scenario: EngineScenario) -> None:
        engine = self.make_engine(scenario)
        assert isinstance(engine.name, str)
        assert engine.name
        for seed in self.seeds:
            state = self._state(engine, scenario, seed)
            before = state.model_copy(deep=True)
            decision = asyncio.run(engine.adecide(scenario.persona, state, scenario.page))
            assert isinstance(decision, PageDecision)
            assert decision_problems(decision, scenario.page, self._range(scenario)) == []
            assert state == before, "adecide must not mutate the state (the runner applies decisions)"

    def test_a_later_page_of_a_tired_unhappy_user(self, scenario: EngineScenario) -> None:
        engine = self.make_engine(scenario)
        page = scenario.page.model_copy(update={"index": 4})
        for seed in self.seeds:
            state = self._state(engine, scenario, seed).model_copy(
                update={
                    "page": 4,
                    "satisfaction": 0.05,
                    "fatigue": 0.95,
                    "consumed": [scenario.persona.history[0]],
                }
            )
            decision = asyncio.run(engine.adecide(scenario.persona, state, page))
            assert decision_problems(decision, page, self._range(scenario)) == []

    def test_deterministic_for_a_fixed_seed(self, scenario: EngineScenario) -> None:
        first, second = self.make_engine(scenario), self.make_engine(scenario)
        for seed in self.seeds:
            a = asyncio.run(
                first.adecide(scenario.persona, self._state(first, scenario, seed), scenario.page)
            )
            b = asyncio.run(
                second.adecide(scenario.persona, self._state(second, scenario, seed), scenario.page)
            )
            assert a == b, f"two engines made with the same settings decided differently for seed {seed}"

    def test_an_empty_page(self, scenario: EngineScenario) -> None:
        engine = self.make_engine(scenario)
        empty = Page(session=0, index=0, items=[])
        decision = asyncio.run(engine.adecide(scenario.persona, self._state(engine, scenario, 0), empty))
        assert isinstance(decision, PageDecision)
        assert decision_problems(decision, empty, self._range(scenario)) == []
        assert [a for a in decision.actions if a.kind != "leave"] == []

    def test_interview_is_typed(self, scenario: EngineScenario) -> None:
        engine = self.make_engine(scenario)
        persona, page = scenario.persona, scenario.page
        state = self._state(engine, scenario, 7)
        record = SessionRecord(user_id=f"{persona.user_id}#0", session=0)
        pages = 2
        for index in range(pages):
            shown = page.model_copy(update={"index": index})
            decision = asyncio.run(engine.adecide(persona, state, shown))
            record.pages.append(shown)
            record.decisions.append(decision)
            state = state.model_copy(update={"page": index + 1, "satisfaction": decision.satisfaction})
            if decision.leave and index < pages - 1:  # leaving after the last page is the end
                record.exit_page = index
                break
        interview = asyncio.run(engine.ainterview(persona, state, record))
        assert isinstance(interview, Interview)
        assert (interview.user_id, interview.session) == (record.user_id, record.session)
        assert interview.stayed == (record.exit_page is None)
        assert interview.reason.strip()
        assert 0.0 <= interview.satisfaction <= 1.0
        shown_ids = {item.item_id for item in page.items}
        assert set(interview.liked) <= shown_ids
        assert set(interview.disliked) <= shown_ids
        assert not set(interview.liked) & set(interview.disliked)


__all__ = [
    "DecisionEngineContract",
    "EngineScenario",
    "decision_problems",
    "engine_scenario",
    "page_answering_model",
]
