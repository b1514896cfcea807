"""Every registered model, policy, brain and engine runs its kind's conformance suite: the classes are
generated from the registry, so a part registered later (a plugin's included) cannot skip them."""

from __future__ import annotations

from typing import Any

import pytest

from recpilot.models.popularity import PopularityRecommender
from recpilot.registry import KINDS, REGISTRY, Registry
from recpilot.testing.conformance import RecommenderContract
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
    assert "mine" in conformance_classes(("model",)).keys().__str__().lower()


def test_a_kind_without_a_suite_is_refused() -> None:
    with pytest.raises(LookupError, match="no conformance suite for parts of kind 'recommender'"):
        conformance_class("recommender", "model")
