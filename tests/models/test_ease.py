"""EASE: the contract plus the closed form checked against a direct numpy computation."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, DataError
from recpilot.models.ease import EaseRecommender, item_precision, spd_inverse
from recpilot.testing import known_answer_dataset


def _tiny_dataset() -> Dataset:
    pairs = [("a", 1), ("a", 2), ("b", 2), ("b", 3), ("c", 1), ("c", 3), ("c", 4), ("d", 4), ("d", 2)]
    interactions = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    # Item 5 is in the catalog but has no interactions: it must score 0 and stay out of the solve.
    catalog = pd.DataFrame({"item_id": [1, 2, 3, 4, 5]})
    return Dataset.from_frames(interactions, catalog)


def test_closed_form_matches_numpy() -> None:
    dataset = _tiny_dataset()
    l2 = 0.7
    model = EaseRecommender(l2=l2).fit(dataset)
    x = dataset.matrix("binary").toarray().astype(np.float64)
    active = [0, 1, 2, 3]
    xa = x[:, active]
    p = np.linalg.inv(xa.T @ xa + l2 * np.eye(len(active)))
    expected = np.eye(len(active)) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    assert model.active_items.tolist() == active
    np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-6)

    users = np.arange(dataset.n_users)
    full = np.zeros((dataset.n_users, dataset.n_items))
    full[:, active] = xa @ expected
    items, scores = model.recommend_indices(users, k=dataset.n_items, filter_seen=False)
    for row in users:
        np.testing.assert_allclose(scores[row], full[row, items[row]], rtol=1e-5, atol=1e-6)


def test_unseen_catalog_item_scores_zero() -> None:
    dataset = _tiny_dataset()
    model = EaseRecommender(l2=1.0).fit(dataset)
    assert model.score([5], history=[1, 2])[0] == 0.0
    assert model.score([5], "a")[0] == 0.0


def test_stronger_regularisation_shrinks_weights() -> None:
    dataset = known_answer_dataset().dataset
    loose = EaseRecommender(l2=1.0).fit(dataset)
    tight = EaseRecommender(l2=1000.0).fit(dataset)
    assert np.abs(tight.weights).sum() < np.abs(loose.weights).sum()


def test_rejects_negative_l2() -> None:
    with pytest.raises(ConfigError, match="l2"):
        EaseRecommender(l2=-1.0)


def test_spd_inverse_matches_numpy_across_mirror_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("recpilot.models.ease._MIRROR_BLOCK", 7)  # several blocks plus a ragged last one
    rng = np.random.default_rng(5)
    factor = rng.random((30, 40))
    gram = factor @ factor.T + 0.5 * np.eye(30)
    expected = np.linalg.inv(gram)
    inverse = spd_inverse(gram.copy())
    assert inverse.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(inverse, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(inverse, inverse.T)


def test_spd_inverse_rejects_indefinite_matrix() -> None:
    with pytest.raises(DataError, match="not positive definite"):
        spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]]))


@pytest.mark.parametrize("shape", [(6, 15), (15, 6)], ids=["woodbury", "direct"])
def test_item_precision_matches_numpy_inverse(shape: tuple[int, int]) -> None:
    # Fewer users than items takes the Woodbury path, more users the direct inverse; both are exact.
    dense = (np.random.default_rng(9).random(shape) < 0.4).astype(np.float64)
    expected = np.linalg.inv(dense.T @ dense + 2.0 * np.eye(shape[1]))
    np.testing.assert_allclose(item_precision(sp.csr_matrix(dense), 2.0), expected, rtol=1e-9, atol=1e-12)


def test_wide_data_gives_the_closed_form() -> None:
    rng = np.random.default_rng(2)
    pairs = [(f"u{u}", int(i)) for u in range(5) for i in rng.choice(20, size=6, replace=False)]
    dataset = Dataset.from_frames(pd.DataFrame(pairs, columns=["user_id", "item_id"]))
    model = EaseRecommender(l2=3.0).fit(dataset)
    x = dataset.matrix("binary").toarray().astype(np.float64)
    x = x[:, model.active_items]
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(x.shape[1]))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    assert x.shape[0] < x.shape[1]
    np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-6)


def _random_dataset(seed: int = 3) -> Dataset:
    """300 users, 400 catalog items (the last 20 without interactions), a few users with long histories."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(300):
        size = 200 if user < 5 else int(rng.integers(1, 30))
        weights = 1.0 / np.arange(1, 381)
        for item in rng.choice(380, size=size, replace=False, p=weights / weights.sum()):
            rows.append((user, int(item)))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return Dataset.from_frames(interactions, pd.DataFrame({"item_id": np.arange(400)}))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_score_at_gives_the_full_scores_bit_for_bit(monkeypatch: pytest.MonkeyPatch, share: float) -> None:
    # share 1.0 sends every pool through the gather path, 0.0 through the full product.
    monkeypatch.setattr("recpilot.models.ease.GATHER_SHARE", share)
    dataset = _random_dataset()
    model = EaseRecommender(l2=5.0).fit(dataset)
    rng = np.random.default_rng(0)
    users = dataset.users.external_ids
    for pool_size in (1, 25, 120, 400):
        pool = rng.choice(400, size=pool_size, replace=False)  # unsorted, inactive items included
        ids = dataset.items.external_ids[pool].tolist()
        for user in [users[0], users[4], users[7], users[150]]:
            assert np.array_equal(model.score_at(pool, user), model.score(ids, user))
        for history in ([3], [0, 5, 9, 390], [int(i) for i in rng.choice(380, 150, replace=False)]):
            assert np.array_equal(model.score_at(pool, history=history), model.score(ids, history=history))
        assert np.array_equal(model.score_at(pool, history=[]), model.score(ids, history=[]))


def test_score_at_rejects_indices_outside_the_model() -> None:
    model = EaseRecommender(l2=1.0).fit(_tiny_dataset())
    with pytest.raises(ConfigError, match=r"internal item indices in \[0, 5\)"):
        model.score_at([0, 5], history=[1])
    with pytest.raises(ConfigError, match="exactly one"):
        model.score_at([0])


def test_kept_heavy_users_get_the_same_scores_and_a_refit_forgets_them() -> None:
    dataset = _random_dataset()
    model = EaseRecommender(l2=5.0).fit(dataset)
    heavy = dataset.users.external_ids[:5].tolist()
    before = {user: model.recommend(user, k=30) for user in heavy}
    before_scores = {user: model.score(list(range(400)), user) for user in heavy}
    assert model.keep_heavy_users(min_history=200) == 5
    assert model.keep_heavy_users(min_history=200, budget_bytes=2 * 4 * 400) == 2  # the budget binds
    assert model.keep_heavy_users(min_history=200) == 5
    for user in heavy:
        again = model.recommend(user, k=30)
        assert again.ids() == before[user].ids()
        assert np.array_equal(again.scores, before[user].scores)
        assert np.array_equal(model.score(list(range(400)), user), before_scores[user])
        assert np.array_equal(model.score_at(np.arange(400), user), before_scores[user])
    items, _ = model.recommend_indices(np.arange(5), k=30)
    assert [dataset.items.to_external(row).tolist() for row in items] == [
        before[user].ids() for user in heavy
    ]
    other = _random_dataset(seed=4)
    model.fit(other)  # a refit must not serve the old model's kept rows
    fresh = EaseRecommender(l2=5.0).fit(other)
    user = other.users.external_ids[0]
    assert np.array_equal(model.score(list(range(400)), user), fresh.score(list(range(400)), user))
