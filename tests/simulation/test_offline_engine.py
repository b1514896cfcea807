"""The calibrated engine: cascade behaviour, examination curve, calibration on synthetic data."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _s1_data import clustered_dataset

from recpilot.simulation.behaviour import BehaviourConfig
from recpilot.simulation.calibration import cascade_log_likelihood, examination, fit_position_bias
from recpilot.simulation.draws import page_uniforms
from recpilot.simulation.offline_engine import OfflineEngine, PageBatch
from recpilot.simulation.persona import build_personas
from recpilot.simulation.types import Page, ShownItem, UserState


@pytest.fixture(scope="module")
def engine() -> OfflineEngine:
    data = clustered_dataset()
    return OfflineEngine(seed=1).fit(data)


def _batch(engine: OfflineEngine, n: int, k: int, like: float, seed: int = 0) -> PageBatch:
    rng = np.random.default_rng(seed)
    return PageBatch(
        items=rng.integers(0, 160, size=(n, k)),
        like=np.full((n, k), like),
        chosen=np.full((n, k), like),
        consumed=np.zeros((n, k), dtype=bool),
        activity=np.full(n, 0.5),
        satisfaction=np.full(n, 0.6),
        fatigue=np.zeros(n),
        uniforms=rng.random((n, 2 * k + 2)),
    )


def test_cascade_clicks_at_most_once_and_nothing_below_the_click(engine: OfflineEngine) -> None:
    out = engine.decide_arrays(_batch(engine, 4000, 10, like=0.4))
    clicked = out.click >= 0
    assert 0.2 < clicked.mean() < 1.0
    positions = np.arange(10)[None, :]
    below = positions > out.click[:, None]
    # the user stops scanning at the click: nothing below it is examined (so nothing is clicked)
    assert not (out.examined & below & clicked[:, None]).any()
    assert out.examined[np.flatnonzero(clicked), out.click[clicked]].all()
    assert np.isnan(out.rating[~clicked]).all()
    assert not np.isnan(out.rating[clicked]).any()
    assert set(np.unique(out.rating[clicked] * 2)) <= set(range(1, 11))  # values of the 0.5-step scale


def test_examination_decreases_with_position(engine: OfflineEngine) -> None:
    out = engine.decide_arrays(_batch(engine, 20000, 10, like=0.0))  # nothing attractive: no click
    assert (out.click < 0).all()
    rate = out.examined.mean(axis=0)
    assert (np.diff(rate) < 0).all()
    assert rate[0] == pytest.approx(0.85, abs=0.02)  # rho = 0.7 + 0.3 * 0.5, position 0
    assert rate[4] == pytest.approx(0.85 / 5, abs=0.02)  # eta = 1


def test_preference_drives_clicks_and_consumed_items_are_not_clicked(engine: OfflineEngine) -> None:
    low = engine.decide_arrays(_batch(engine, 3000, 10, like=0.05))
    high = engine.decide_arrays(_batch(engine, 3000, 10, like=0.6))
    assert (high.click >= 0).mean() > (low.click >= 0).mean() + 0.2
    batch = _batch(engine, 3000, 10, like=0.6)
    batch.consumed[:] = True
    assert (engine.decide_arrays(batch).click < 0).all()


def test_dissatisfied_users_leave(engine: OfflineEngine) -> None:
    batch = _batch(engine, 1000, 10, like=0.0)
    batch.satisfaction[:] = 0.25
    assert engine.decide_arrays(batch).leave.all()


def test_async_decision_matches_the_batch_core(engine: OfflineEngine) -> None:
    assert engine.dataset is not None
    persona = build_personas(engine.dataset)[0]
    ids = [str(i) for i in range(1, 11)]
    page = Page(session=0, index=2, items=[ShownItem(item_id=i, position=p) for p, i in enumerate(ids)])
    state = UserState(satisfaction=0.6, seed=12345)
    decision = asyncio.run(engine.adecide(persona, state, page))
    again = asyncio.run(engine.adecide(persona, state, page))
    assert decision == again  # the same seed draws the same numbers
    kinds = [a.kind for a in decision.actions if a.item_id is not None]
    assert kinds.count("click") <= 1
    assert np.array_equal(page_uniforms([12345], 2, 10), page_uniforms([12345], 2, 10))


def test_position_bias_recovers_eta_from_cascade_logs() -> None:
    rng = np.random.default_rng(1)
    n, k, eta = 20000, 10, 0.7
    attract = rng.uniform(0.05, 0.6, size=(n, k))
    p_click = examination(np.arange(k), eta)[None, :] * attract
    hits = rng.random((n, k)) < p_click
    clicks = np.where(hits.any(axis=1), hits.argmax(axis=1), -1).astype(np.int64)
    assert fit_position_bias(attract, clicks) == pytest.approx(eta, abs=0.06)
    assert cascade_log_likelihood(attract, clicks, eta) > cascade_log_likelihood(attract, clicks, 2.0)


def test_like_model_learns_taste_and_ratings_follow_it(engine: OfflineEngine) -> None:
    """Own-genre items are liked far more often, and liked clicks get higher ratings."""
    assert engine.preference is not None
    like = engine.preference.like_probabilities(np.arange(8))
    own = np.arange(160)[None, :] % 4 == (np.arange(8) % 4)[:, None]
    assert like[own].mean() > 2 * like[~own].mean()
    chosen = np.full(4000, 0.5)
    ratings, liked = engine.ratings(chosen, np.random.default_rng(0).random(4000))
    assert liked.mean() == pytest.approx(0.5, abs=0.03)
    assert ratings[liked].min() >= engine.preference.threshold > ratings[~liked].max()
    fitted = engine.parameters()
    assert "eta" in fitted["assumed"]
    assert "logged_like_rate" in fitted["fitted"]


def test_choice_is_relative_to_the_users_own_picks(engine: OfflineEngine) -> None:
    """By default an item as choosable as the user's logged picks has relative choice 0 (clicked with
    its like probability); the catalog reference centres on the whole catalog instead."""
    assert engine.dataset is not None
    assert engine.preference is not None
    logged = engine.dataset.matrix("binary")
    users = np.arange(12)
    own = [logged.indices[logged.indptr[u] : logged.indptr[u + 1]] for u in users.tolist()]
    for u, items in zip(users.tolist(), own, strict=True):
        _, _, choice = engine.pair_arrays(np.array([u]), items[None, :].astype(np.int64))
        assert abs(choice.mean()) < 1e-9
    _, _, dense = engine.user_arrays(users)
    assert (dense.mean(axis=1) < -0.5).all()  # the user's own picks are far more choosable than average

    catalog = OfflineEngine(BehaviourConfig(choice_reference="catalog")).fit(
        engine.dataset, like=engine.preference
    )
    _, _, dense = catalog.user_arrays(users)
    assert np.abs(dense.mean(axis=1)).max() < 1e-6


def test_choice_centre_does_not_depend_on_the_batch(engine: OfflineEngine) -> None:
    assert engine.preference is not None
    users = np.array([5, 0, 17, 3, 5, 40], dtype=np.int64)
    together = engine.preference.mean_chosen_exposure_logit(users)
    alone = np.array([engine.preference.mean_chosen_exposure_logit(np.array([u]))[0] for u in users])
    assert np.array_equal(together, alone)
