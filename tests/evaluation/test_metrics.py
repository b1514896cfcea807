"""Ranking metrics: hand-computed cases, a loop reference and hypothesis properties."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recpilot.errors import ConfigError
from recpilot.evaluation.metrics import (
    RANKING_METRICS,
    average_precision,
    hit_matrix,
    hit_rate,
    mrr,
    ndcg,
    precision,
    ranking_metrics,
    recall,
)

FAST = settings(max_examples=60, deadline=None)


def truth_matrix(relevant: list[list[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, items in enumerate(relevant) for _ in items]
    cols = [i for items in relevant for i in items]
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(relevant), n_items))


@dataclass
class Case:
    ranked: npt.NDArray[np.int64]
    relevant: list[set[int]]
    n_items: int

    @property
    def truth(self) -> sp.csr_matrix:
        return truth_matrix([sorted(r) for r in self.relevant], self.n_items)


@st.composite
def cases(draw: st.DrawFn, min_relevant: int = 1) -> Case:
    """Lists of distinct items padded with -1 at the end (as models produce) and non-empty truth sets."""
    n_items = draw(st.integers(1, 25))
    n_users = draw(st.integers(1, 6))
    length = draw(st.integers(1, 12))
    ranked = np.full((n_users, length), -1, dtype=np.int64)
    relevant: list[set[int]] = []
    for user in range(n_users):
        order = draw(st.permutations(range(n_items)))
        listed = draw(st.integers(0, min(length, n_items)))
        ranked[user, :listed] = order[:listed]
        relevant.append(draw(st.sets(st.integers(0, n_items - 1), min_size=min_relevant, max_size=n_items)))
    return Case(ranked, relevant, n_items)


def reference(ranked: npt.NDArray[np.int64], relevant: list[set[int]], k: int) -> dict[str, list[float]]:
    """Textbook definitions, one user at a time (the docstring conventions of metrics.py)."""
    out: dict[str, list[float]] = {name: [] for name in RANKING_METRICS}
    for row, rel in zip(ranked, relevant, strict=True):
        seen: set[int] = set()
        gains = []
        for item in row[:k].tolist():
            gains.append(1.0 if item >= 0 and item in rel and item not in seen else 0.0)
            seen.add(item)
        hits = sum(gains)
        ideal = sum(1.0 / math.log2(j + 2) for j in range(min(len(rel), k)))
        dcg = sum(g / math.log2(j + 2) for j, g in enumerate(gains))
        first = next((j for j, g in enumerate(gains) if g), None)
        ap = sum(sum(gains[: j + 1]) / (j + 1) for j, g in enumerate(gains) if g)
        out["hr"].append(1.0 if hits else 0.0)
        out["recall"].append(hits / len(rel))
        out["precision"].append(hits / k)
        out["ndcg"].append(dcg / ideal)
        out["mrr"].append(0.0 if first is None else 1.0 / (first + 1))
        out["map"].append(ap / min(len(rel), k))
    return out


def test_hand_computed_case() -> None:
    ranked = np.array([[3, 1, 7, -1], [5, -1, -1, -1]])
    truth = truth_matrix([[1, 7, 9], [5]], n_items=10)
    k = 3
    discount = [1 / math.log2(2), 1 / math.log2(3), 1 / math.log2(4)]
    np.testing.assert_allclose(hit_rate(ranked, truth, k), [1.0, 1.0])
    np.testing.assert_allclose(recall(ranked, truth, k), [2 / 3, 1.0])
    np.testing.assert_allclose(precision(ranked, truth, k), [2 / 3, 1 / 3])
    np.testing.assert_allclose(ndcg(ranked, truth, k), [(discount[1] + discount[2]) / sum(discount), 1.0])
    np.testing.assert_allclose(mrr(ranked, truth, k), [1 / 2, 1.0])
    np.testing.assert_allclose(average_precision(ranked, truth, k), [(1 / 2 + 2 / 3) / 3, 1.0])


def test_cutoff_one_looks_at_the_first_entry_only() -> None:
    ranked = np.array([[3, 1]])
    truth = truth_matrix([[1]], n_items=4)
    for name, values in ranking_metrics(ranked, truth, 1).items():
        assert values[0] == 0.0, name
    assert ndcg(ranked, truth, 2)[0] == pytest.approx(1 / math.log2(3))


def test_user_without_relevant_items_scores_zero() -> None:
    ranked = np.array([[0, 1], [0, 1]])
    truth = truth_matrix([[], [1]], n_items=3)
    values = ranking_metrics(ranked, truth, 2)
    assert all(v[0] == 0.0 for v in values.values())
    assert values["ndcg@2"][1] > 0.0


def test_repeated_item_counts_once() -> None:
    truth = truth_matrix([[4]], n_items=5)
    repeated = np.array([[4, 4, 4]])
    assert precision(repeated, truth, 3)[0] == pytest.approx(1 / 3)
    assert ndcg(repeated, truth, 3)[0] == pytest.approx(1.0)
    assert average_precision(repeated, truth, 3)[0] == pytest.approx(1.0)


def test_truth_is_not_modified_and_non_canonical_truth_works() -> None:
    # Duplicate entries and an explicit zero: the zero is not relevant, the duplicate counts once.
    truth = sp.csr_matrix((np.array([1.0, 1.0, 0.0]), np.array([2, 2, 3]), np.array([0, 3])), shape=(1, 5))
    before = (truth.data.copy(), truth.indices.copy(), truth.indptr.copy())
    ranked = np.array([[3, 2]])
    assert recall(ranked, truth, 2)[0] == pytest.approx(1.0)
    assert ndcg(ranked, truth, 2)[0] == pytest.approx(1 / math.log2(3))
    np.testing.assert_array_equal(truth.data, before[0])
    np.testing.assert_array_equal(truth.indices, before[1])
    np.testing.assert_array_equal(truth.indptr, before[2])


def test_several_cutoffs_and_names() -> None:
    ranked = np.array([[0, 1, 2, 3]])
    truth = truth_matrix([[3]], n_items=4)
    values = ranking_metrics(ranked, truth, [4, 2], metrics=("recall", "ndcg"))
    assert list(values) == ["recall@2", "recall@4", "ndcg@2", "ndcg@4"]
    assert values["recall@2"][0] == 0.0
    assert values["recall@4"][0] == 1.0


@pytest.mark.parametrize(
    ("ranked", "truth", "k", "message"),
    [
        (np.array([[0, 1]]), truth_matrix([[0]], 3), 3, "exceeds the ranked list length"),
        (np.array([[0, 1]]), truth_matrix([[0]], 3), 0, "positive integer"),
        (np.array([0, 1]), truth_matrix([[0]], 3), 1, "2-D"),
        (np.array([[0.0, 1.0]]), truth_matrix([[0]], 3), 1, "integer item indices"),
        (np.array([[0, -2]]), truth_matrix([[0]], 3), 1, "padding"),
        (np.array([[0, 5]]), truth_matrix([[0]], 3), 1, "only 3 items"),
        (np.array([[0], [1]]), truth_matrix([[0]], 3), 1, "same user"),
    ],
)
def test_invalid_input_is_a_config_error(
    ranked: npt.NDArray[np.generic], truth: sp.csr_matrix, k: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ndcg(ranked, truth, k)


def test_unknown_metric_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="ndcg"):
        ranking_metrics(np.array([[0]]), truth_matrix([[0]], 1), 1, metrics=("auc",))


# -- properties --------------------------------------------------------------------------------------------


@FAST
@given(case=cases(), data=st.data())
def test_matches_the_loop_reference(case: Case, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, case.ranked.shape[1]))
    expected = reference(case.ranked, case.relevant, k)
    got = ranking_metrics(case.ranked, case.truth, k)
    for name in RANKING_METRICS:
        np.testing.assert_allclose(got[f"{name}@{k}"], expected[name], rtol=0, atol=1e-12, err_msg=name)


@FAST
@given(case=cases())
def test_values_lie_in_unit_interval(case: Case) -> None:
    for name, values in ranking_metrics(case.ranked, case.truth, case.ranked.shape[1]).items():
        assert ((values >= 0.0) & (values <= 1.0 + 1e-12)).all(), name


@FAST
@given(case=cases(), data=st.data())
def test_perfect_ranking_scores_one(case: Case, data: st.DataObject) -> None:
    length = case.ranked.shape[1]
    perfect = np.full_like(case.ranked, -1)
    for user, rel in enumerate(case.relevant):
        ordered = data.draw(st.permutations(sorted(rel)))
        others = [i for i in range(case.n_items) if i not in rel]
        row = (list(ordered) + others)[:length]
        perfect[user, : len(row)] = row
    k = data.draw(st.integers(1, length))
    values = ranking_metrics(perfect, case.truth, k, metrics=("ndcg", "hr", "mrr", "map"))
    for name, per_user in values.items():
        np.testing.assert_allclose(per_user, 1.0, err_msg=name)


@FAST
@given(case=cases(), data=st.data())
def test_shuffling_below_the_last_hit_changes_nothing(case: Case, data: st.DataObject) -> None:
    length = case.ranked.shape[1]
    hits = hit_matrix(case.ranked, case.truth)
    shuffled = case.ranked.copy()
    for user in range(len(shuffled)):
        hit_positions = np.flatnonzero(hits[user])
        tail_start = int(hit_positions[-1]) + 1 if len(hit_positions) else 0
        tail = shuffled[user, tail_start:].tolist()
        shuffled[user, tail_start:] = data.draw(st.permutations(tail)) if tail else tail
    for name in ("ndcg", "mrr", "map", "recall", "hr", "precision"):
        before = ranking_metrics(case.ranked, case.truth, length, metrics=(name,))
        after = ranking_metrics(shuffled, case.truth, length, metrics=(name,))
        np.testing.assert_allclose(after[f"{name}@{length}"], before[f"{name}@{length}"], err_msg=name)


@FAST
@given(case=cases())
def test_recall_and_hit_rate_are_monotone_in_k(case: Case) -> None:
    cutoffs = range(1, case.ranked.shape[1] + 1)
    values = ranking_metrics(case.ranked, case.truth, cutoffs, metrics=("recall", "hr"))
    for name in ("recall", "hr"):
        stacked = np.stack([values[f"{name}@{k}"] for k in cutoffs])
        assert (np.diff(stacked, axis=0) >= 0).all(), name


@FAST
@given(case=cases(), data=st.data())
def test_precision_times_k_counts_the_hits(case: Case, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, case.ranked.shape[1]))
    counted = [
        sum(1 for item in row[:k] if item in rel) for row, rel in zip(case.ranked, case.relevant, strict=True)
    ]
    np.testing.assert_allclose(precision(case.ranked, case.truth, k) * k, counted)


@FAST
@given(case=cases())
def test_padding_is_never_a_hit(case: Case) -> None:
    # Replace padding by a fresh item that no user finds relevant: no metric may change.
    length = case.ranked.shape[1]
    dummy = case.n_items
    filled = np.where(case.ranked >= 0, case.ranked, dummy)
    wider = truth_matrix([sorted(r) for r in case.relevant], case.n_items + 1)
    before = ranking_metrics(case.ranked, case.truth, length)
    after = ranking_metrics(filled, wider, length)
    for name, values in before.items():
        np.testing.assert_allclose(after[name], values, err_msg=name)
    assert not hit_matrix(case.ranked, case.truth)[case.ranked < 0].any()
