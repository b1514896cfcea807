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
