"""ItemKNN: the contract plus similarities checked against brute-force cosine."""

from typing import Any

import numpy as np
import scipy.sparse as sp

from recpilot.models.itemknn import ItemKNNRecommender, item_similarity
from recpilot.testing import known_answer_dataset


def _brute_force(dense: np.ndarray, neighbors: int, shrinkage: float) -> np.ndarray:
    dots = dense.T @ dense
    norms = np.linalg.norm(dense, axis=0)
    denominator = np.outer(norms, norms) + shrinkage
    sims = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
    np.fill_diagonal(sims, 0.0)
    pruned = np.zeros_like(sims)
    for row in range(len(sims)):
        top = np.argsort(-sims[row], kind="stable")[:neighbors]
        top = top[sims[row, top] > 0]
        pruned[row, top] = sims[row, top]
    return pruned


def test_similarity_equals_brute_force_cosine() -> None:
    rng = np.random.default_rng(3)
    # Continuous values make ties (and thus an ambiguous top-k) practically impossible.
    dense = rng.random((40, 25)) * (rng.random((40, 25)) < 0.3)
    dense[:, 7] = 0.0  # an item no one interacted with has no neighbours
    for neighbors, shrinkage in [(24, 0.0), (5, 0.0), (5, 2.5)]:
        result = item_similarity(sp.csr_matrix(dense), neighbors, shrinkage)
        expected = _brute_force(dense, neighbors, shrinkage)
        np.testing.assert_allclose(result.toarray(), expected, rtol=1e-5, atol=1e-6)
        assert result.has_canonical_format
        assert result[7].nnz == 0
        assert result.diagonal().sum() == 0.0


def test_blocked_computation_matches_single_block(monkeypatch: Any) -> None:
    dense = (np.random.default_rng(0).random((30, 20)) < 0.3).astype(np.float32)
    whole = item_similarity(sp.csr_matrix(dense), 6).toarray()
    monkeypatch.setattr("recpilot.models.itemknn._BLOCK_BUDGET", 3 * 20)  # three rows per block
    blocked = item_similarity(sp.csr_matrix(dense), 6).toarray()
    np.testing.assert_array_equal(whole, blocked)


def test_scores_are_summed_neighbour_similarities() -> None:
    known = known_answer_dataset()
    model = ItemKNNRecommender(neighbors=5).fit(known.dataset)
    history = known.group_items(2)[:3]
    internal = known.dataset.items.to_internal(history)
    expected = np.asarray(model.similarity[internal].sum(axis=0)).ravel()
    scores = model.score(known.dataset.items.external_ids.tolist(), history=history)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_rating_values_change_similarities() -> None:
    dataset = known_answer_dataset().dataset
    binary = ItemKNNRecommender(neighbors=5).fit(dataset).similarity
    rated = ItemKNNRecommender(neighbors=5, values="rating").fit(dataset).similarity
    assert binary.shape == rated.shape
    assert not np.allclose(binary.toarray(), rated.toarray())
    assert max(np.diff(binary.indptr)) <= 5
