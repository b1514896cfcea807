"""Dataset construction, id maps and derived views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recpilot.data import Dataset, IdMap
from recpilot.errors import DataError, UnknownIdError


def frame(
    rows: list[tuple[object, ...]], columns: tuple[str, ...] = ("user_id", "item_id", "rating", "timestamp")
) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def test_from_frames_maps_ids_and_keeps_catalog_items_without_interactions() -> None:
    items = pd.DataFrame(
        {"item_id": ["a", "b", "c"], "title": ["A", "B", None], "genres": [["x"], ["y"], []]}
    )
    data = Dataset.from_frames(frame([("u1", "b", 5, 2), ("u1", "a", 3, 1), ("u2", "d", 1, 7)]), items)
    assert data.n_users == 2
    assert data.items.external_ids.tolist() == ["a", "b", "c", "d"]  # catalog order, then unseen extras
    assert data.titles([2, 3]) == ["c", "d"]  # missing titles fall back to the id
    assert data.matrix("rating")[0, 1] == 5
    assert data.user_sequence(0).tolist() == [0, 1]  # time order, not file order
    assert data.item_popularity.tolist() == [1, 1, 0, 1]
    assert data.attribute_columns == ["genres"]


def test_implicit_data_without_ratings_or_timestamps() -> None:
    data = Dataset.from_frames(frame([(1, 10), (1, 11), (2, 10)], ("user_id", "item_id")))
    assert data.implicit
    assert data.interactions["rating"].tolist() == [1.0, 1.0, 1.0]
    assert data.user_sequence(0).tolist() == [0, 1]


def test_repeated_interactions_count_once_in_the_binary_matrix() -> None:
    data = Dataset.from_frames(frame([(1, 10, 2, 1), (1, 10, 4, 2)]))
    assert data.matrix("binary").nnz == 1
    assert data.matrix("rating")[0, 0] == 4  # the latest rating wins


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (frame([(1, 10)], ("user_id", "movie")), "missing column"),
        (frame([], ("user_id", "item_id")), "empty"),
        (frame([(1, 10, "good", 1)]), "rating in interaction row 1 is not a number"),
        (frame([(1, 10, 3, 1), (None, 11, 3, 2)]), "missing user_id in interaction row 2"),
        (frame([(1, 10, 3, "yesterday")]), "timestamp in interaction row 1"),
    ],
)
def test_bad_tables_name_the_problem(table: pd.DataFrame, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Dataset.from_frames(table, source="input.csv")


def test_duplicate_items_in_catalog_are_rejected_with_the_row() -> None:
    items = pd.DataFrame({"item_id": [1, 2, 1]})
    with pytest.raises(DataError, match=r"duplicate item id 1 in items row 3"):
        Dataset.from_frames(frame([(1, 1, 3, 1)]), items, source="items.csv")


def test_idmap_round_trip_and_unknown_ids() -> None:
    ids = IdMap(np.array([30, 10, 20]), "item")
    assert ids.to_internal([10, 20]).tolist() == [1, 2]
    assert ids.to_external([2, 0]).tolist() == [20, 30]
    assert ids.to_internal([10, 99], strict=False).tolist() == [1, -1]
    with pytest.raises(UnknownIdError, match="unknown item id: 99; try again"):
        ids.to_internal([99], hint="try again")
    with pytest.raises(UnknownIdError):
        ids.index_of("x")
    with pytest.raises(ValueError, match="duplicates"):
        IdMap([1, 1], "user")
