"""The simulator's taste consensus: it weighs recommender families alike and scores them correctly."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from _s1_data import clustered_dataset

from recpilot.models.ease import item_precision
from recpilot.simulation.like_model import LikeModel, LikeModelConfig
from recpilot.simulation.taste import autoencoder_scores, low_rank_scores, rank_consensus


def _log(n_users: int, n_items: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < 0.2).astype(np.float64))


def test_consensus_favours_no_family_of_mirror_image_rankings() -> None:
    """Two families whose rankings are mirror images (each puts the other's top items last): the top
    lists of both get the same consensus, whichever family is listed first and however either scales."""
    n, k = 12, 3
    first = -np.arange(n, dtype=np.float32)[None, :]  # items 0, 1, 2 on top
    swap = np.r_[np.arange(n - k, n), np.arange(k, n - k), np.arange(k)]  # an involution: top <-> bottom
    second = first[:, swap]  # items 9, 10, 11 on top
    consensus = rank_consensus({"a": first, "b": second})[0]
    assert np.isclose(consensus[:k].mean(), consensus[-k:].mean())
    assert consensus[:k].mean() > consensus[k:-k].mean()  # agreed-on items still beat the middle
    # order of the families and any increasing transform of one family's scores change nothing
    assert np.array_equal(rank_consensus([second, first])[0], consensus)
    assert np.array_equal(rank_consensus([np.exp(first / 4) * 1000, second])[0], consensus)


def test_family_with_larger_scores_gets_no_more_say() -> None:
    """Averaging raw scores would let the family with the widest scale decide; ranks do not."""
    rng = np.random.default_rng(3)
    a, b = rng.random((5, 40)).astype(np.float32), rng.random((5, 40)).astype(np.float32)
    consensus = rank_consensus([a * 1e6, b])
    assert np.array_equal(consensus, rank_consensus([a, b * 1e6]))
    # the consensus's top item per user is not simply the loud family's top item
    assert (consensus.argmax(axis=1) != a.argmax(axis=1)).any()


def test_autoencoder_scores_are_ease_on_both_paths() -> None:
    """The Woodbury path (fewer users than items) and the item-Gram path give EASE's ``X B``."""
    for shape in ((30, 50), (60, 20)):
        log = _log(*shape)
        precision = item_precision(log, 100.0)
        weights = -precision / np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        expected = log.toarray() @ weights
        assert np.allclose(autoencoder_scores(log), expected, atol=1e-5)


def test_low_rank_scores_leave_each_logged_items_own_term_out() -> None:
    log = _log(40, 30, seed=1)
    scores = low_rank_scores(log, factors=5)
    _, _, vt = np.linalg.svd(log.toarray(), full_matrices=False)
    projection = vt[:5].T @ vt[:5]
    expected = log.toarray() @ (projection - np.diag(np.diag(projection)))
    assert np.allclose(scores, expected, atol=1e-4)


def test_like_model_taste_does_not_depend_on_the_order_of_families() -> None:
    data = clustered_dataset()
    users = np.arange(10)
    fitted = [
        LikeModel(LikeModelConfig(seed=1, families=families)).fit(data).like_probabilities(users)
        for families in (
            ("neighbourhood", "linear_autoencoder", "low_rank"),
            ("low_rank", "neighbourhood", "linear_autoencoder"),
        )
    ]
    assert np.array_equal(fitted[0], fitted[1])


def test_like_model_learns_from_the_consensus_and_reports_it() -> None:
    model = LikeModel(LikeModelConfig(seed=1)).fit(clustered_dataset())
    assert model.summary["taste"] == "consensus"
    assert model.summary["taste_families"] == ["neighbourhood", "linear_autoencoder", "low_rank"]
    # what the families agree a user's history points to is chosen more: a positive exposure weight
    assert model.summary["taste_weights"]["exposure"][0] > 0


def test_log_too_large_for_the_consensus_table_uses_the_low_rank_block_and_says_so() -> None:
    data = clustered_dataset()
    cells = data.n_users * data.n_items
    small = LikeModel(LikeModelConfig(seed=1, consensus_max_cells=cells)).fit(data)
    assert small.summary["taste"] == "consensus"
    assert "taste_note" not in small.summary
    large = LikeModel(LikeModelConfig(seed=1, consensus_max_cells=cells - 1)).fit(data)
    assert large.summary["taste"] == "svd"
    assert large.summary["taste_families"] == ["low_rank"]
    assert f"{cells:,} cells" in large.summary["taste_note"]
    # the same fit as asking for the low-rank block outright
    svd = LikeModel(LikeModelConfig(seed=1, taste="svd")).fit(data)
    assert np.array_equal(large.like_probabilities(np.arange(5)), svd.like_probabilities(np.arange(5)))
