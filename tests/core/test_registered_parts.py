"""Every registered model, policy, brain and engine runs its kind's conformance suite: the classes are
generated from the registry, so a part registered later (a plugin's included) cannot skip them."""

from __future__ import annotations

from typing import Any

import pytest

from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.runtime import build_runtime
from recpilot.conversation.policy.base import Ask, Recommend
from recpilot.conversation.state import DialogueState
from recpilot.models.popularity import PopularityRecommender
from recpilot.registry import KINDS, REGISTRY, Registry
from recpilot.testing import known_answer_dataset
from recpilot.testing.brains import ROLES, BrainContract
from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.policies import PolicyContract, contract_space
from recpilot.testing.registered import CHECKED_ELSEWHERE, SUITES, conformance_class, conformance_classes

globals().update(conformance_classes())


def test_every_kind_of_part_has_a_suite_or_says_where_it_is_checked() -> None:
    assert {"model", "policy", "brain", "engine"} <= set(SUITES)
    assert set(SUITES) | set(CHECKED_ELSEWHERE) == set(KINDS)


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


def test_a_kind_without_a_suite_is_refused() -> None:
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
