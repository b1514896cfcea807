"""Catalog values as the tools and explanations read them: missing values are empty, never "nan"."""

from __future__ import annotations

import numpy as np
import pytest

from recpilot.tools.context import as_list, plain_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (float("nan"), []),  # pandas writes a missing cell of an object column as NaN
        (np.nan, []),
        ("Drama", ["Drama"]),
        (["Drama", "War"], ["Drama", "War"]),
        (np.array(["a", "b"]), ["a", "b"]),
        (1999, [1999]),
    ],
)
def test_as_list(value: object, expected: list[object]) -> None:
    assert as_list(value) == expected


def test_plain_value_turns_missing_into_none() -> None:
    assert plain_value(float("nan")) is None
    assert plain_value(np.int64(3)) == 3
    assert plain_value(np.array([1, 2])) == [1, 2]
