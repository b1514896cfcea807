"""Every registered part (model, policy, brain, engine, memory, recommender under test) runs its kind's
conformance suite: the classes are generated from the registry, so a part registered later (a plugin's
included) cannot skip them, and every kind of the registry has a suite."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.runtime import build_runtime
from recpilot.conversation.policy.base import Ask, Recommend
from recpilot.conversation.state import DialogueState
from recpilot.data.dataset import Dataset
from recpilot.memory.base import DialogueTurn, InMemoryProfileMemory
from recpilot.models.popularity import PopularityRecommender
from recpilot.registry import KINDS, REGISTRY, Registry
from recpilot.testing import known_answer_dataset
from recpilot.testing.brains import ROLES, BrainContract
from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.memory import ProfileMemoryContract
from recpilot.testing.policies import PolicyContract, contract_space
from recpilot.testing.recommenders import RecommenderUnderTestContract
from recpilot.testing.registered import BINDINGS, SUITES, conformance_class, conformance_classes
from recpilot.testing.storage import storage

globals().update(conformance_classes())


def test_every_kind_of_part_has_a_suite() -> None:
    assert set(SUITES) == set(KINDS), "a kind of the registry without a generated conformance suite"
    assert set(BINDINGS) == set(KINDS), "a kind of the registry whose suite cannot be bound to a part"
    for kind in KINDS:
        for name in REGISTRY.names(kind):
            assert issubclass(conformance_class(kind, name), SUITES[kind])


def test_every_registered_part_has_a_test_class_here() -> None:
    generated = {
        name for name, value in globals().items() if isinstance(value, type) and name.startswith("Test")
    }
    for kind in SUITES:
        for name in REGISTRY.names(kind):
            cls = conformance_class(kind, name)
            assert cls.__name__ in generated, f"{kind} {name!r} has no conformance class"
            assert issubclass(cls, SUITES[kind])


def test_a_part_registered_later_gets_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    class Mine(PopularityRecommender):
        name = "mine"

    registry = Registry({"model": {"mine": Mine}})
    monkeypatch.setattr("recpilot.testing.registered.REGISTRY", registry)
    cls = conformance_class("model", "mine")
    assert issubclass(cls, RecommenderContract)
    model: Any = cls().make_model()
    assert type(model) is Mine
    assert "TestModelMineContract" in conformance_classes(("model",))


@pytest.mark.parametrize("table", [SUITES, BINDINGS])
def test_a_kind_without_a_suite_is_refused(monkeypatch: pytest.MonkeyPatch, table: dict[str, Any]) -> None:
    monkeypatch.delitem(table, "recommender")
    with pytest.raises(LookupError, match="no conformance suite for parts of kind 'recommender'"):
        conformance_class("recommender", "model")


class _SilentBrain(Brain):
    """A brain that never recommends: the brain suite must fail it."""

    name = "silent"

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        return Act(reply="I have nothing for you.")

    async def compose(self, turn: Turn, act: Act, items: list[Any], tools: ToolRunner) -> Composition:
        return Composition(reply="")


def test_the_brain_suite_fails_a_brain_that_recommends_nothing() -> None:
    suite: Any = type("TestSilent", (BrainContract,), {"make_brain": lambda self: _SilentBrain()})()
    known = known_answer_dataset()
    runtime = build_runtime(known.dataset, roles=ROLES)
    with pytest.raises(AssertionError):
        suite.test_answers_a_request_with_catalog_items(known, runtime)
    with pytest.raises(AssertionError):
        suite.test_known_users_get_their_missing_item_first(known, runtime)
    with pytest.raises(AssertionError):
        suite.test_act_then_compose_are_typed(known, runtime)


def test_the_policy_suite_fails_invalid_actions() -> None:
    suite: Any = PolicyContract()
    space = contract_space()
    state = DialogueState(session_id="s", user_id="u")
    state.reject_attribute("g=half")
    state.reject_item("e")
    bad = [
        Ask(attributes=["g=unknown"]),
        Ask(attributes=["g=half"]),  # asked and answered before
        Recommend(item_ids=["e"], k=2),  # rejected
        Recommend(item_ids=["a"], k=2),  # has the rejected attribute
        Recommend(item_ids=["f", "g", "h"], k=2),  # longer than k
    ]
    for action in bad:
        with pytest.raises(AssertionError):
            suite._check(action, state, space, 2)
    suite._check(Recommend(item_ids=["f", "g"], k=2), state, space, 2)


# -- memories ------------------------------------------------------------------------------------------------


class _CarelessMemory(InMemoryProfileMemory):
    """Forgets a preference whoever asks and "replaces" turns by adding them: the suite must fail it."""

    def forget(self, user_id: str, preference_id: int) -> bool:
        return any(InMemoryProfileMemory.forget(self, owner, preference_id) for owner in list(self._prefs))

    def _replace_turns(self, session_id: str, user_id: str, turns: list[DialogueTurn]) -> None:
        for turn in turns:
            self._append_turn(session_id, user_id, turn)


def test_a_memory_registered_later_gets_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "recpilot.testing.registered.REGISTRY", Registry({"memory": {"careless": _CarelessMemory}})
    )
    cls = conformance_class("memory", "careless")
    assert issubclass(cls, ProfileMemoryContract)
    suite: Any = cls()
    assert type(suite.make_memory(None)) is _CarelessMemory
    assert "TestMemoryCarelessContract" in conformance_classes(("memory",))


def test_the_memory_suite_fails_a_careless_memory() -> None:
    suite: Any = type("TestCareless", (ProfileMemoryContract,), {"persistent": False})()
    with pytest.raises(AssertionError, match="another user's preference"):
        suite.test_users_are_isolated(_CarelessMemory())
    with pytest.raises(AssertionError):
        suite.test_replace_turns(_CarelessMemory())
    suite.test_users_are_isolated(InMemoryProfileMemory())  # the checks pass a correct memory


def test_the_memory_suite_fails_a_memory_that_claims_to_persist_but_forgets() -> None:
    cls: Any = conformance_class("memory", "in-memory")
    suite: Any = type("TestClaims", (cls,), {"persistent": True})()
    suite.storage = None
    with pytest.raises(AssertionError):
        suite.test_persistence_across_instances(suite.make_memory(None))


def test_the_sql_memory_runs_on_sqlite_and_reopens_on_a_new_engine(tmp_path: Path) -> None:
    cls: Any = conformance_class("memory", "sql")
    suite: Any = cls()
    with storage("sqlite", tmp_path) as found:
        suite.storage = found
        memory = suite.make_memory(found)
        memory.set_summary("ann", "likes noir")
        reopened = suite.reopen(memory)
        assert reopened is not memory
        assert reopened.engine is not memory.engine, "a restart opens its own engine"
        assert reopened.profile("ann").summary == "likes noir"


# -- recommenders under simulation ---------------------------------------------------------------------------


class _SloppyRecommender:
    """Answers from the whole catalog in a shuffled order: too many ids, repeats, excluded ones."""

    def __init__(self, train: Dataset) -> None:
        self.items = [str(i) for i in train.items.external_ids.tolist()]
        self.rng = random.Random()

    @classmethod
    def for_training(cls, train: Dataset) -> _SloppyRecommender:
        return cls(train)

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        page = self.rng.sample(self.items, k)
        return [*page, page[0], *exclude[:1], "no-such-item"]


class _TidyButRandomRecommender(_SloppyRecommender):
    """Keeps the protocol's form but answers by chance (unseeded): replay and taste checks must fail."""

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        banned = set(exclude)
        return self.rng.sample([i for i in self.items if i not in banned], k)


def _recommender_suite(monkeypatch: pytest.MonkeyPatch, cls: type) -> Any:
    monkeypatch.setattr("recpilot.testing.registered.REGISTRY", Registry({"recommender": {"mine": cls}}))
    suite: Any = conformance_class("recommender", "mine")()
    suite.resources = {}
    return suite


def test_a_recommender_registered_later_gets_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _recommender_suite(monkeypatch, _SloppyRecommender)
    assert isinstance(suite, RecommenderUnderTestContract)
    assert type(suite.make_recommender(known_answer_dataset().dataset)) is _SloppyRecommender
    assert "TestRecommenderMineContract" in conformance_classes(("recommender",))


def test_the_recommender_suite_fails_a_recommender_that_breaks_the_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = known_answer_dataset()
    sloppy = _recommender_suite(monkeypatch, _SloppyRecommender)
    with pytest.raises(AssertionError, match="items for a page of"):
        sloppy.test_pages_hold_at_most_k_distinct_catalog_items(known)
    with pytest.raises(AssertionError):
        sloppy.test_excluded_items_never_come_back_and_pages_stay_full(known)
    with pytest.raises(AssertionError):
        sloppy.test_a_user_it_does_not_know_is_served_from_the_history(known)
    tidy = _recommender_suite(monkeypatch, _TidyButRandomRecommender)
    tidy.test_pages_hold_at_most_k_distinct_catalog_items(known)  # its pages are well formed
    with pytest.raises(AssertionError, match="must replay"):
        tidy.test_two_recommenders_built_alike_answer_alike(known)
    with pytest.raises(AssertionError, match="not a group item"):
        tidy.test_known_users_get_their_own_group_first(known)


def test_postgres_storage_skips_with_a_reason_when_unreachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        "recpilot.testing.backends.POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    with (
        pytest.raises(pytest.skip.Exception, match="PostgreSQL not reachable"),
        storage("postgres", tmp_path),
    ):
        pass
