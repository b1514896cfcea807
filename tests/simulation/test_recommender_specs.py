"""Recommenders under simulation come from one place: a registry spec (``recommender`` kind) read from
``SimulationConfig.recommender``, or any object with ``arecommend`` handed to ``build_simulation``."""

from __future__ import annotations

import pytest
from _s1_data import clustered_dataset

from recpilot.errors import ConfigError
from recpilot.models.implicit_mf import ALSRecommender
from recpilot.registry import Spec
from recpilot.simulation.assembly import (
    build_recommender,
    build_simulation,
    recommender_spec,
    split_for_simulation,
)
from recpilot.simulation.environment import HttpRecommender, ModelRecommender
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import SimulationConfig


class FirstItems:
    """Any recommender object: the first ``k`` catalog items not excluded."""

    name = "first-items"

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.calls = 0

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        self.calls += 1
        banned = set(exclude)
        return [item for item in self.items if item not in banned][:k]


def test_the_recommender_string_is_read_in_one_place() -> None:
    model = recommender_spec(
        SimulationConfig(recommender="als", recommender_config={"factors": 8}, rerank=True)
    )
    assert model == Spec.of(
        "model", {"model": {"class": "als", "config": {"factors": 8}}, "use_history": True}
    )
    http = recommender_spec(SimulationConfig(recommender="http://127.0.0.1:9/rec", timeout_s=3.0))
    assert http == Spec.of("http", {"url": "http://127.0.0.1:9/rec", "timeout_s": 3.0})
    assert recommender_spec(SimulationConfig(recommender="agent")) == Spec.of("agent")


def test_specs_build_fitted_adapters() -> None:
    data = clustered_dataset()
    split = split_for_simulation(data, seed=1)
    built, name = build_recommender(
        SimulationConfig(recommender="als", recommender_config={"factors": 8, "iterations": 2}), split
    )
    assert name == "als"
    assert isinstance(built, ModelRecommender)
    assert isinstance(built.model, ALSRecommender)
    assert built.model.config.factors == 8
    assert built.model.is_fitted
    http, url = build_recommender(SimulationConfig(recommender="http://127.0.0.1:9/rec"), split)
    assert isinstance(http, HttpRecommender)
    assert url == "http://127.0.0.1:9/rec"


@pytest.mark.parametrize(
    ("recommender", "config", "words"),
    [
        ("nosuch", {}, ["unknown model 'nosuch'"]),
        ("als", {"factorz": 8}, ["model spec", "'als'", "unknown config field 'factorz'"]),
        ("agent", {"messages": "hi"}, ["recommender spec", "unknown config field 'messages'"]),
    ],
)
def test_bad_recommender_specs_are_named(
    recommender: str, config: dict[str, object], words: list[str]
) -> None:
    split = split_for_simulation(clustered_dataset(), seed=1)
    with pytest.raises(ConfigError) as caught:
        build_recommender(SimulationConfig(recommender=recommender, recommender_config=config), split)
    for word in words:
        assert word in str(caught.value)


def test_any_recommender_object_can_be_simulated() -> None:
    data = clustered_dataset()
    catalog = [str(i) for i in data.items.external_ids]
    under_test = FirstItems(catalog)
    config = SimulationConfig(users=6, sessions=1, pages=2, page_size=4, seed=3, explore="epsilon:0.0")
    engine = OfflineEngine(seed=1).fit(data)
    run = build_simulation(config, dataset=data, engine=engine, recommender=under_test)
    assert run.recommender_name == "epsilon:0.0(first-items)"
    result = SimulationRunner(run).run_sync()
    assert under_test.calls > 0
    assert result.user_sessions == 6
    assert result.errors == 0
