"""Top-k selection: order, exclusions and padding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recpilot.models.ranking import top_k


def test_best_first_with_excluded_entries_padded() -> None:
    scores = np.array([[0.1, 0.9, -np.inf, 0.5], [-np.inf, -np.inf, 0.2, -np.inf]], dtype=np.float32)
    idx, vals = top_k(scores, 3)
    assert idx.tolist() == [[1, 3, 0], [2, -1, -1]]
    assert vals[1, 1] == -np.inf


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 30)), elements=st.floats(-5, 5, width=32)),
    st.integers(1, 40),
)
def test_matches_a_full_sort(scores: np.ndarray, k: int) -> None:
    idx, vals = top_k(scores, k)
    expected = -np.sort(-scores, axis=1)[:, : min(k, scores.shape[1])]
    np.testing.assert_array_equal(vals, expected)
    np.testing.assert_array_equal(np.take_along_axis(scores, idx, axis=1), vals)
    assert all(len(set(row)) == len(row) for row in idx.tolist())


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(300, 2000),
    st.integers(1, 12),
    st.sampled_from(["distinct", "ties", "excluded"]),
    st.integers(0, 2**32 - 1),
)
def test_wide_rows_match_a_full_sort(n_rows: int, n_cols: int, k: int, kind: str, seed: int) -> None:
    # Rows at least 4 * 64 * k wide take the group-maxima prefilter; it must not change the answer.
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
    if kind == "ties":
        scores = np.round(scores).astype(np.float32)
    elif kind == "excluded":
        scores[rng.random(scores.shape) < rng.random()] = -np.inf
    idx, vals = top_k(scores, k)
    expected = -np.sort(-scores, axis=1)[:, :k]
    expected[~np.isfinite(expected)] = -np.inf
    np.testing.assert_array_equal(vals, expected)
    np.testing.assert_array_equal(idx < 0, ~np.isfinite(expected))
    valid = idx >= 0
    picked = np.take_along_axis(scores, np.where(valid, idx, 0), axis=1)
    np.testing.assert_array_equal(picked[valid], vals[valid])
    assert all(len(set(row[row >= 0])) == int((row >= 0).sum()) for row in idx)
    for row in range(n_rows):
        tied = idx[row][valid[row]]
        same = vals[row][valid[row]]
        # Equal scores come out in column order.
        assert all(tied[i] < tied[i + 1] for i in range(len(tied) - 1) if same[i] == same[i + 1])
