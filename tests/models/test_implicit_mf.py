"""ALS and BPR: the contract plus factor-level checks."""

import warnings
from pathlib import Path
from typing import Any

import implicit.utils
import numpy as np
import pytest

from recpilot.models.base import Histories, Recommender
from recpilot.models.implicit_mf import ALSRecommender, BPRRecommender
from recpilot.testing import known_answer_dataset


@pytest.fixture(scope="module")
def known_dataset() -> Any:
    return known_answer_dataset().dataset


def test_als_known_user_scores_are_factor_products(known_dataset: Any) -> None:
    model = ALSRecommender(factors=8, iterations=5).fit(known_dataset)
    users = np.arange(known_dataset.n_users)
    expected = model.user_factors @ model.item_factors.T
    items, scores = model.recommend_indices(users, k=3, filter_seen=False)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, items, axis=1), rtol=1e-5, atol=1e-6)
    user = known_dataset.users.external_ids[4]
    all_items = known_dataset.items.external_ids.tolist()
    np.testing.assert_allclose(model.score(all_items, user), expected[4], rtol=1e-5, atol=1e-6)


def test_als_fold_in_solves_the_weighted_least_squares_user_step(known_dataset: Any) -> None:
    alpha, reg = 4.0, 0.1
    model = ALSRecommender(factors=8, iterations=10, regularization=reg, alpha=alpha).fit(known_dataset)
    histories = Histories.from_lists([[0, 1, 2], [5, 7], [3, 3, 9]], known_dataset.n_items)
    folded = model.fold_in(histories)
    y = model.item_factors.astype(np.float64)
    for row in range(len(histories)):
        # Hu et al.: x = (Y^T C Y + reg I)^-1 Y^T C p, with c = alpha on history items, 1 elsewhere.
        confidence = np.ones(len(y))
        confidence[histories.sequence(row)] = alpha
        preference = (confidence > 1).astype(np.float64)
        lhs = y.T @ (confidence[:, None] * y) + reg * np.eye(y.shape[1])
        expected = np.linalg.solve(lhs, y.T @ (confidence * preference))
        np.testing.assert_allclose(folded[row], expected, rtol=1e-3, atol=1e-4)


def test_bpr_factors_carry_item_bias(known_dataset: Any) -> None:
    model = BPRRecommender(factors=8, iterations=10, num_threads=1).fit(known_dataset)
    assert model.item_factors.shape == (known_dataset.n_items, 9)
    np.testing.assert_array_equal(model.user_factors[:, -1], 1.0)


def test_bpr_fold_in_is_the_mean_item_vector(known_dataset: Any) -> None:
    model = BPRRecommender(factors=8, iterations=10, num_threads=1).fit(known_dataset)
    folded = model.fold_in(Histories.from_lists([[0, 1, 2], [4, 4, 5]], known_dataset.n_items))
    assert folded.shape == (2, 9)
    np.testing.assert_array_equal(folded[:, -1], 1.0)
    np.testing.assert_allclose(folded[0, :-1], model.item_factors[[0, 1, 2], :-1].mean(axis=0), rtol=1e-5)
    # A repeated item counts once, as in the binary training matrix.
    np.testing.assert_allclose(folded[1, :-1], model.item_factors[[4, 5], :-1].mean(axis=0), rtol=1e-5)
    history = known_dataset.items.external_ids[[0, 1, 2]].tolist()
    expected = folded[0] @ model.item_factors.T
    scores = model.score(known_dataset.items.external_ids.tolist(), history=history)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_class", [ALSRecommender, BPRRecommender])
def test_seed_reproducible_and_seed_sensitive(model_class: Any, known_dataset: Any) -> None:
    first = model_class(factors=8, iterations=5, num_threads=1, seed=1).fit(known_dataset)
    again = model_class(factors=8, iterations=5, num_threads=1, seed=1).fit(known_dataset)
    other = model_class(factors=8, iterations=5, num_threads=1, seed=2).fit(known_dataset)
    np.testing.assert_array_equal(first.item_factors, again.item_factors)
    np.testing.assert_array_equal(first.user_factors, again.user_factors)
    assert not np.allclose(first.item_factors, other.item_factors)


def test_no_blas_threadpool_warning_when_fitting_or_folding_in(
    known_dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # implicit warns once per process about multi-threaded BLAS; re-arm its check for each step.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for model in (ALSRecommender(factors=4, iterations=2), BPRRecommender(factors=4, iterations=2)):
            monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
            model.fit(known_dataset)
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        loaded = Recommender.load(model.save(tmp_path / "bpr"))
        saved_als = ALSRecommender(factors=4, iterations=2).fit(known_dataset).save(tmp_path / "als")
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        Recommender.load(saved_als).recommend(history=known_dataset.items.external_ids[:2].tolist(), k=3)
        loaded.recommend(history=known_dataset.items.external_ids[:2].tolist(), k=3)


def test_similar_items_is_cosine_of_item_factors(known_dataset: Any) -> None:
    model = ALSRecommender(factors=8, iterations=5).fit(known_dataset)
    factors = model.item_factors
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    item = known_dataset.items.external_ids[3]
    similar = model.similar_items(item, k=5)
    expected = unit @ unit[3]
    expected[3] = -np.inf
    top = np.argsort(-expected, kind="stable")[:5]
    assert similar.ids() == known_dataset.items.to_external(top).tolist()
    np.testing.assert_allclose(similar.scores, expected[top], rtol=1e-5)


def test_bpr_default_config_reproduces_a_fit(known_dataset: Any) -> None:
    # Issue 13: CLI and harness disagreed only because multi-threaded Hogwild SGD races.
    first = BPRRecommender(factors=8, iterations=20).fit(known_dataset)
    again = BPRRecommender(factors=8, iterations=20).fit(known_dataset)
    assert BPRRecommender().config.num_threads == 1
    np.testing.assert_array_equal(first.item_factors, again.item_factors)
