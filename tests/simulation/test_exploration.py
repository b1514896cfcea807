"""Exploration strategies on known-answer bandits: Thompson and LinUCB find the best arm, epsilon=0 is the
base ranking, and feedback is read from typed page decisions."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
from _s1_data import clustered_dataset

from recpilot.errors import ConfigError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.exploration import (
    EpsilonGreedy,
    ExplorationRecommender,
    LinUCB,
    ThompsonSampling,
    embedding_features,
    genre_features,
    page_feedback,
)
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import Page, PageDecision, ShownItem, SimAction, SimulationConfig

ARMS = [f"a{i}" for i in range(10)]
CLICK_P = {arm: (0.8 if arm == "a7" else 0.1) for arm in ARMS}  # a7 is best, ranked 8th by the base


class FixedBase:
    """A base recommender with a fixed ranking."""

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        return [a for a in ARMS if a not in exclude][:k]


def play(strategy: ExplorationRecommender, rounds: int, seed: int = 1) -> list[str]:
    """A one-slot bandit: every round a user sees one item, examines it and clicks with its probability."""
    rng = np.random.default_rng(seed)
    chosen: list[str] = []

    async def run() -> None:
        for r in range(rounds):
            (item,) = await strategy.arecommend(f"u{r}", [], 1, [])
            clicked = bool(rng.random() < CLICK_P[item])
            page = Page(session=0, index=0, items=[ShownItem(item_id=item, position=0)])
            kind = "click" if clicked else "view"
            strategy.observe(
                f"u{r}", page, PageDecision(actions=[SimAction(kind=kind, item_id=item, position=0)])
            )
            chosen.append(item)

    asyncio.run(run())
    return chosen


def test_thompson_concentrates_on_the_best_arm() -> None:
    strategy = ThompsonSampling(FixedBase(), pool=10, seed=3)
    chosen = play(strategy, 400)
    assert chosen[-100:].count("a7") >= 85
    assert strategy.posterior_mean("a7") > 0.6 > 0.3 > strategy.posterior_mean("a0")
    assert strategy.trials == 400


def test_linucb_finds_the_best_arm_from_features() -> None:
    features = embedding_features(ARMS, np.eye(len(ARMS)))  # one-hot: disjoint arms
    strategy = LinUCB(FixedBase(), features, alpha=0.5, pool=10)
    chosen = play(strategy, 400)
    assert chosen[-100:].count("a7") >= 85


def test_epsilon_zero_is_the_base_ranking_and_epsilon_explores() -> None:
    greedy = EpsilonGreedy(FixedBase(), epsilon=0.0, pool=10)
    pages = [asyncio.run(greedy.arecommend(f"u{i}", [], 3, [])) for i in range(20)]
    assert all(page == ARMS[:3] for page in pages)
    explorer = EpsilonGreedy(FixedBase(), epsilon=0.5, pool=10, seed=2)
    explored = [asyncio.run(explorer.arecommend(f"u{i}", [], 3, [])) for i in range(50)]
    swapped = sum(item not in ARMS[:3] for page in explored for item in page)
    assert 40 <= swapped <= 110  # about half of the 150 slots
    assert all(len(set(page)) == 3 for page in explored)
    # the same user at the same point gets the same page whatever the order of calls
    assert asyncio.run(explorer.arecommend("u3", [], 3, [])) == explored[3]


def test_feedback_ignores_skipped_items() -> None:
    page = Page(session=0, index=0, items=[ShownItem(item_id=i, position=p) for p, i in enumerate("xyz")])
    decision = PageDecision(
        actions=[
            SimAction(kind="view", item_id="x", position=0),
            SimAction(kind="click", item_id="y", position=1),
            SimAction(kind="rate", item_id="y", position=1, rating=4.0),
            SimAction(kind="skip", item_id="z", position=2),
            SimAction(kind="leave"),
        ]
    )
    assert [(f.item_id, f.clicked) for f in page_feedback("u", page, decision)] == [("x", False), ("y", True)]


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="epsilon"):
        EpsilonGreedy(FixedBase(), epsilon=1.5)
    with pytest.raises(ConfigError, match="features"):
        LinUCB(FixedBase(), {})
    with pytest.raises(ConfigError, match="embedding matrix"):
        embedding_features(ARMS, np.eye(3))


def test_strategies_learn_from_the_runner() -> None:
    dataset = clustered_dataset()
    config = SimulationConfig(users=12, sessions=1, pages=3, page_size=4, seed=5, recommender="pop")
    run = build_simulation(config, dataset=dataset, engine=OfflineEngine(seed=5).fit(dataset))
    assert isinstance(run.recommender, ModelRecommender)
    for strategy in (
        ThompsonSampling(run.recommender, pool=20, seed=5),
        LinUCB(run.recommender, genre_features(dataset), pool=20),
    ):
        runner = SimulationRunner(dataclasses.replace(run, recommender=strategy))
        runner.run_sync()
        examined = runner.items[runner.items["action"].isin(["view", "click"])]
        assert strategy.trials == len(examined) > 0
        assert strategy.clicks == (runner.items["action"] == "click").sum()
