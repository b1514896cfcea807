"""The catalog store's writing and lookups, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, DataError, UnknownIdError
from recpilot.store import CatalogQuery, CatalogStore, backend, ingest, schema


def _titles(store: CatalogStore, text: str) -> list[str]:
    return [hit.title for hit in store.search(CatalogQuery(text=text))]


def _cell_values(cell: Any) -> list[Any]:
    if isinstance(cell, list):
        return cell
    if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
        return []
    return [cell]


def test_catalog_round_trips(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)
    catalog = small.catalog
    for row in catalog.itertuples(index=False):
        record = store.item(row.item_id)
        assert record.item_id == row.item_id
        assert type(record.item_id) is int
        assert record.index == small.items.index_of(row.item_id)
        assert (record.title, record.text) == (row.title, row.text)
        assert set(record.attributes) == {"genres", "year", "runtime", "family"}
        for name in record.attributes:
            expected = _cell_values(getattr(row, name))
            assert record.attributes[name] == expected, name
            assert [type(v) for v in record.attributes[name]] == [
                type(v.item()) if isinstance(v, np.generic) else type(v) for v in expected
            ]


def test_string_ids_keep_their_type(store: CatalogStore) -> None:
    items = pd.DataFrame({"item_id": ["0012", "a b", "12"], "title": ["Zero", "Space", "Twelve"]})
    interactions = pd.DataFrame({"user_id": ["u7", "u7", "u8"], "item_id": ["0012", "a b", "12"]})
    store.import_dataset(Dataset.from_frames(interactions, items, name="strings"))
    assert store.item("0012").title == "Zero"
    assert store.item("0012").item_id == "0012"
    assert store.item(12).item_id == "12"  # 12 and "12" name the same item
    assert [e.item_id for e in store.user_history("u7")] == ["0012", "a b"]
    hits = store.search(CatalogQuery(text="space"))
    assert [h.item_id for h in hits] == ["a b"]


def test_ids_differing_only_in_type_are_refused(store: CatalogStore) -> None:
    interactions = pd.DataFrame({"user_id": [7, "7"], "item_id": [1, 2]})
    with pytest.raises(DataError, match="differ only in type"):
        store.import_dataset(Dataset.from_frames(interactions))
    assert store.info().n_items == 0


def test_plain_path_means_sqlite(tmp_path: Path, small: Dataset) -> None:
    path = tmp_path / "nested" / "catalog.db"
    with CatalogStore.open(path) as store:
        store.import_dataset(small)
        assert store.engine.dialect.name == "sqlite"
    with CatalogStore(str(path)) as reopened:
        assert reopened.info().n_items == small.n_items


def test_items_in_asked_order_and_unknown_ids_named(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)
    assert [r.item_id for r in store.items([14, 10, 12, 10])] == [14, 10, 12, 10]
    with pytest.raises(UnknownIdError) as caught:
        store.items([10, 999, "nope"])
    assert caught.value.ids == [999, "nope"]
    assert "small" in str(caught.value)


def test_unknown_item_raises(store: CatalogStore, small: Dataset) -> None:
    with pytest.raises(UnknownIdError, match="empty"):
        store.item(10)
    store.import_dataset(small)
    with pytest.raises(UnknownIdError, match="424242"):
        store.item(424242)
    with pytest.raises(UnknownIdError):
        store.item("10\x00")
    with pytest.raises(UnknownIdError):
        store.user_history("ann\x00")


def test_user_history_follows_dataset_sequence(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)
    for user in small.users.external_ids:
        events = store.user_history(user)
        expected = small.items.to_external(small.user_sequence(small.users.index_of(user))).tolist()
        assert [e.item_id for e in events] == expected
        assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    ann = store.user_history("ann")
    assert [(e.item_id, e.rating) for e in ann] == [(11, 3.0), (12, 4.0), (10, 5.0)]
    with pytest.raises(UnknownIdError, match="zoe"):
        store.user_history("zoe")


def test_vocabulary_counts_items_per_value(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)
    genres = store.vocabulary("genres")
    # "Comedy" and "comedy" are one value, as in filters.
    assert {str(k).casefold(): v for k, v in genres.items()} == {"comedy": 3, "drama": 2, "horror": 2}
    assert list(genres.values()) == sorted(genres.values(), reverse=True)
    years = store.vocabulary("year")
    assert years == {1990: 1, 1991: 1, 1999: 1, 2005: 1}
    assert all(type(year) is int for year in years)
    assert store.vocabulary("family") == {False: 3, True: 2}
    with pytest.raises(ConfigError, match="'genres'"):
        store.vocabulary("genre")


def test_attributes_describe_the_catalog(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)
    info = store.attributes()
    assert {name: (a.value_type, a.multivalued, a.n_values) for name, a in info.items()} == {
        "genres": ("str", True, 3),
        "year": ("int", False, 4),
        "runtime": ("float", False, 4),
        "family": ("bool", False, 2),
    }


def test_info_counts(store: CatalogStore, small: Dataset) -> None:
    empty = store.info()
    assert (empty.dataset, empty.n_items, empty.n_users, empty.n_interactions) == (None, 0, 0, 0)
    info = store.import_dataset(small)
    assert (info.dataset, info.n_items, info.n_users, info.n_interactions) == (
        "small",
        small.n_items,
        small.n_users,
        small.n_interactions,
    )


def test_reimport_needs_replace(store: CatalogStore, small: Dataset, other_small: Dataset) -> None:
    store.import_dataset(small)
    with pytest.raises(ConfigError, match=r"replace=True"):
        store.import_dataset(other_small)
    assert store.info().dataset == "small"
    assert _titles(store, "alpha") == ["small Alpha Dawn"]

    store.import_dataset(other_small, replace=True)
    assert store.info().dataset == "other"
    assert store.item(110).title == "other Alpha Dawn"
    with pytest.raises(UnknownIdError):
        store.item(10)
    # The full-text index follows the content: old titles are gone, new ones found.
    assert _titles(store, "alpha") == ["other Alpha Dawn"]
    assert _titles(store, "small") == []


def _duplicate_last_interaction(real: Any) -> Any:
    def rows(dataset: Dataset) -> ingest.TableRows:
        table = real(dataset)
        return ingest.TableRows(table.columns, [*table.rows, table.rows[-1]])

    return rows


def _raise_after_everything_is_written(conn: sa.Connection) -> None:
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize("failure", ["constraint", "exception"])
def test_failed_import_leaves_store_unchanged(
    store: CatalogStore,
    small: Dataset,
    other_small: Dataset,
    failure: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.import_dataset(small)
    before = store.info()
    records_before = store.items(small.items.external_ids.tolist())
    vocabulary_before = store.vocabulary("genres")
    if failure == "constraint":
        # The last interaction row repeats a primary key: the database refuses it after items,
        # attributes and users are already written.
        monkeypatch.setattr(ingest, "interaction_rows", _duplicate_last_interaction(ingest.interaction_rows))
        with pytest.raises(DataError, match="unchanged"):
            store.import_dataset(other_small, replace=True)
    else:
        monkeypatch.setattr(backend, "rebuild_text_index", _raise_after_everything_is_written)
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.import_dataset(other_small, replace=True)

    assert store.info() == before
    assert store.items(small.items.external_ids.tolist()) == records_before
    assert store.vocabulary("genres") == vocabulary_before
    assert _titles(store, "alpha") == ["small Alpha Dawn"]
    with pytest.raises(UnknownIdError):
        store.item(110)


def test_failed_first_import_leaves_store_empty(
    store: CatalogStore, small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "interaction_rows", _duplicate_last_interaction(ingest.interaction_rows))
        with pytest.raises(DataError):
            store.import_dataset(small)
    assert store.info().n_items == 0
    assert store.attributes() == {}
    store.import_dataset(small)  # still empty, so no replace=True needed
    assert store.info().n_interactions == small.n_interactions


def test_unsupported_id_type_fails_before_writing(store: CatalogStore) -> None:
    interactions = pd.DataFrame({"user_id": [1, 2], "item_id": [1.5, 2.5]})
    with pytest.raises(DataError, match="integer or string"):
        store.import_dataset(Dataset.from_frames(interactions))
    assert store.info().n_items == 0


def test_store_from_another_schema_version_is_refused(store_url: str, small: Dataset) -> None:
    with CatalogStore(store_url) as store:
        store.import_dataset(small)
        with store.engine.begin() as conn:
            conn.execute(
                schema.meta.update().where(schema.meta.c.key == "schema_version").values(value="999")
            )
    with pytest.raises(ConfigError, match="schema version 999"):
        CatalogStore(store_url)


def test_unusable_urls_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot be used"):
        CatalogStore("nosuchdialect://host/db")
    with pytest.raises(ConfigError, match="cannot open catalog store"):
        CatalogStore("postgresql+psycopg://postgres@127.0.0.1:1/test")


def test_in_memory_store(small: Dataset) -> None:
    with CatalogStore(":memory:") as store:
        store.import_dataset(small)
        assert _titles(store, "zeppelins") == ["small Bravo Night"]
