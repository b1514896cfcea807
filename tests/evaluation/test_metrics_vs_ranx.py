"""Every ranking metric agrees with ranx on random rankings (binary relevance, short lists included)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import ranx
import scipy.sparse as sp

from recpilot.evaluation.metrics import ranking_metrics, relevant_counts

# ranx casts uint64 ids inside numba; harmless here and noisy in the test log.
pytestmark = pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaTypeSafetyWarning")

CUTOFFS = (1, 3, 5, 10, 20)
N_USERS, N_ITEMS, LENGTH = 300, 60, 20


@dataclass(frozen=True)
class Fixture:
    ranked: npt.NDArray[np.int64]
    truth: sp.csr_matrix
    ranx_scores: dict[str, npt.NDArray[np.float64]]


@pytest.fixture(scope="module")
def computed() -> Fixture:
    rng = np.random.default_rng(7)
    ranked = np.full((N_USERS, LENGTH), -1, dtype=np.int64)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    rows, cols = [], []
    for user in range(N_USERS):
        # Some users have more relevant items than the longest cutoff, some lists are short.
        relevant = rng.choice(N_ITEMS, size=int(rng.integers(1, 26)), replace=False)
        listed = rng.choice(N_ITEMS, size=int(rng.integers(1, LENGTH + 1)), replace=False)
        ranked[user, : len(listed)] = listed
        # Zero-padded ids keep ranx's query order equal to ours.
        qid = f"q{user:04d}"
        qrels[qid] = {f"d{item}": 1 for item in relevant}
        # ranx orders a run by score: strictly decreasing scores reproduce our rank order.
        run[qid] = {f"d{item}": float(LENGTH - rank) for rank, item in enumerate(listed)}
        rows.extend([user] * len(relevant))
        cols.extend(relevant.tolist())
    truth = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS))
    names = [
        f"{metric}@{k}"
        for k in CUTOFFS
        for metric in ("hits", "hit_rate", "recall", "precision", "ndcg", "mrr", "map")
    ]
    scores = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names, return_mean=False)
    return Fixture(
        ranked, truth, {name: np.asarray(values, dtype=np.float64) for name, values in scores.items()}
    )


@pytest.mark.parametrize("k", CUTOFFS)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("hr", "hit_rate"), ("recall", "recall"), ("precision", "precision"), ("ndcg", "ndcg"), ("mrr", "mrr")],
)
def test_metric_matches_ranx(computed: Fixture, ours: str, theirs: str, k: int) -> None:
    got = ranking_metrics(computed.ranked, computed.truth, k, metrics=(ours,))[f"{ours}@{k}"]
    np.testing.assert_allclose(got, computed.ranx_scores[f"{theirs}@{k}"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("k", CUTOFFS)
def test_hit_count_matches_ranx_hits(computed: Fixture, k: int) -> None:
    # ranx "hits" is a count; ours is precision * k (hit rate is the indicator hits > 0, checked above).
    got = ranking_metrics(computed.ranked, computed.truth, k, metrics=("precision",))[f"precision@{k}"] * k
    np.testing.assert_allclose(got, computed.ranx_scores[f"hits@{k}"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("k", CUTOFFS)
def test_average_precision_matches_ranx_up_to_normalisation(computed: Fixture, k: int) -> None:
    # ranx 0.3 divides AP@k by R; we divide by min(R, k) so a perfect list scores 1. Same numerator.
    n_relevant = relevant_counts(computed.truth)
    got = ranking_metrics(computed.ranked, computed.truth, k, metrics=("map",))[f"map@{k}"]
    expected = computed.ranx_scores[f"map@{k}"] * n_relevant / np.minimum(n_relevant, k)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # Where R <= k the two conventions coincide exactly; the data must exercise both regimes.
    same = n_relevant <= k
    np.testing.assert_allclose(got[same], computed.ranx_scores[f"map@{k}"][same], rtol=0, atol=1e-9)
    assert (~same).any()
    assert same.any()
