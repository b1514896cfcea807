"""Beyond-accuracy metrics: hand-computed cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recpilot.errors import ConfigError
from recpilot.evaluation import beyond
from recpilot.evaluation.beyond import (
    average_recommendation_popularity,
    coverage,
    gini_index,
    intra_list_diversity,
    item_exposure,
    multi_hot,
    novelty,
)

FAST = settings(max_examples=50, deadline=None)


def test_coverage_and_exposure_count_each_list_once() -> None:
    ranked = np.array([[0, 1, -1], [1, 2, -1], [1, 1, 1]])
    np.testing.assert_array_equal(item_exposure(ranked, 5), [1, 3, 1, 0, 0])
    assert coverage(ranked, 5) == pytest.approx(3 / 5)
    assert coverage(np.full((2, 3), -1), 5) == 0.0


def test_gini_hand_computed() -> None:
    # Exposure [0, 0, 1, 3]: mean absolute difference over ordered pairs 20/16, mean 1 -> 20 / (2 * 16).
    ranked = np.array([[3], [3], [3], [2]])
    assert gini_index(ranked, 4) == pytest.approx(0.625)


def test_gini_extremes() -> None:
    assert gini_index(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(0.0)
    assert gini_index(np.array([[2], [2], [2]]), 5) == pytest.approx(4 / 5)
    assert math.isnan(gini_index(np.full((2, 2), -1), 4))


@FAST
@given(exposure=hnp.arrays(np.int64, st.integers(1, 12), elements=st.integers(0, 6)))
def test_gini_equals_the_mean_absolute_difference_form(exposure: np.ndarray) -> None:
    # Build lists that realise the exposure vector: item i appears in exposure[i] different lists.
    n_items = len(exposure)
    n_lists = max(1, int(exposure.max()))
    ranked = np.full((n_lists, n_items), -1)
    for item, count in enumerate(exposure):
        ranked[:count, item] = item
    np.testing.assert_array_equal(item_exposure(ranked, n_items), exposure)
    if exposure.sum() == 0:
        assert math.isnan(gini_index(ranked, n_items))
        return
    pairwise = np.abs(exposure[:, None] - exposure[None, :]).sum()
    expected = pairwise / (2 * n_items**2 * exposure.mean())
    assert gini_index(ranked, n_items) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= gini_index(ranked, n_items) <= (n_items - 1) / n_items + 1e-12


def test_novelty_hand_computed() -> None:
    popularity = np.array([4.0, 2.0, 1.0, 0.0])
    ranked = np.array([[0, 1, -1], [2, 3, -1], [-1, -1, -1]])
    got = novelty(ranked, popularity, n_users=4)
    # Bits: item 0 known by all (0), item 1 by half (1), item 2 by a quarter (2), item 3 by none (as one).
    np.testing.assert_allclose(got[:2], [0.5, 2.0])
    assert math.isnan(got[2])


def test_popular_items_are_less_novel_and_raise_arp() -> None:
    popularity = np.array([50.0, 20.0, 5.0, 1.0])
    popular, niche = np.array([[0, 1]]), np.array([[2, 3]])
    assert novelty(popular, popularity, 60)[0] < novelty(niche, popularity, 60)[0]
    assert average_recommendation_popularity(popular, popularity)[0] == pytest.approx(35.0)
    assert average_recommendation_popularity(niche, popularity)[0] == pytest.approx(3.0)


def test_arp_ignores_padding() -> None:
    got = average_recommendation_popularity(np.array([[1, -1], [-1, -1]]), np.array([3.0, 8.0]))
    assert got[0] == pytest.approx(8.0)
    assert math.isnan(got[1])


def genre_features() -> sp.csr_matrix:
    # Items 0 and 1 share a genre, item 2 has another, item 3 has none.
    return multi_hot([["drama"], ["drama"], ["comedy"], []])


def test_intra_list_diversity_hand_computed() -> None:
    ranked = np.array([[0, 1, -1], [0, 2, -1], [0, 1, 2], [2, -1, -1], [0, 3, -1]])
    got = intra_list_diversity(ranked, genre_features())
    np.testing.assert_allclose(got[[0, 1, 2, 4]], [0.0, 1.0, 2 / 3, 1.0])
    assert math.isnan(got[3])


def test_intra_list_diversity_dense_sparse_and_chunked_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    features = rng.random((30, 5))
    ranked = np.stack([rng.choice(30, 6, replace=False) for _ in range(40)])
    ranked[::7, 4:] = -1
    dense = intra_list_diversity(ranked, features)
    sparse = intra_list_diversity(ranked, sp.csr_matrix(features))
    monkeypatch.setattr(beyond, "_FEATURE_BUDGET", 1)  # one user per block
    chunked = intra_list_diversity(ranked, features)
    np.testing.assert_allclose(sparse, dense)
    np.testing.assert_allclose(chunked, dense)
    # The mean pairwise cosine distance, computed the slow way for one list.
    row = features[ranked[1]]
    unit = row / np.linalg.norm(row, axis=1, keepdims=True)
    pairs = [1 - unit[i] @ unit[j] for i in range(6) for j in range(6) if i != j]
    assert dense[1] == pytest.approx(np.mean(pairs))


@FAST
@given(
    features=hnp.arrays(np.float64, (8, 3), elements=st.sampled_from([0.0, 1.0, 2.0])),
    order=st.permutations(range(8)),
    length=st.integers(2, 8),
)
def test_intra_list_diversity_properties(features: np.ndarray, order: list[int], length: int) -> None:
    ranked = np.array([order[:length], order[:length][::-1]])
    got = intra_list_diversity(ranked, features)
    assert got[0] == pytest.approx(got[1])  # the order within a list does not matter
    assert -1e-12 <= got[0] <= 1.0 + 1e-12  # non-negative features: cosine distance in [0, 1]


def test_multi_hot_accepts_lists_scalars_strings_and_missing() -> None:
    matrix = multi_hot([["a", "b"], "a", None, ("c",), float("nan"), ["b", "b"]])
    assert matrix.shape == (6, 3)
    np.testing.assert_array_equal(
        matrix.toarray(),
        [[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]],
    )


def test_invalid_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="catalog has 3 items"):
        coverage(np.array([[5]]), 3)
    with pytest.raises(ConfigError, match="2-D"):
        intra_list_diversity(np.array([[0, 1]]), np.ones(3))
    with pytest.raises(ConfigError, match="training users"):
        novelty(np.array([[0]]), np.array([1.0]), n_users=0)
    with pytest.raises(ConfigError, match="non-negative"):
        average_recommendation_popularity(np.array([[0]]), np.array([-1.0]))
