"""Catalog store fixtures: every store test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL tests get a fresh schema each (``recpilot_test_<random>``, reached through the URL's
``search_path`` option) that is dropped afterwards, so parallel runs never see each other's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from recpilot.data.dataset import Dataset
from recpilot.store import CatalogStore
from recpilot.testing.backends import BACKENDS, postgres_schema, shared_data_dir

MOVIELENS = shared_data_dir() / "ml-latest-small"


@contextmanager
def store_url_for(backend: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A URL of an empty store on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'catalog.db'}"
    else:
        with postgres_schema(request.getfixturevalue("postgres_admin")) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty store, once per backend."""
    with store_url_for(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[CatalogStore]:
    """An empty store, once per backend."""
    with CatalogStore(store_url) as opened:
        yield opened


@pytest.fixture
def small() -> Dataset:
    """The small dataset of :func:`small_dataset`."""
    return small_dataset()


@pytest.fixture
def other_small() -> Dataset:
    """Another small dataset whose ids and titles differ from :func:`small`'s."""
    return small_dataset("other", offset=100)


def small_dataset(name: str = "small", offset: int = 0) -> Dataset:
    """Five items with list, nullable integer, float and boolean attributes; ``offset`` shifts ids."""
    items = pd.DataFrame(
        {
            "item_id": [offset + i for i in (10, 11, 12, 13, 14)],
            "title": [
                f"{name} Alpha Dawn",
                f"{name} Bravo Night",
                f"{name} Charlie Noon",
                f"{name} Delta Dusk",
                f"{name} Echo",
            ],
            "text": ["a sailing story", "zeppelins over the city", "", "haunted lighthouse keepers", ""],
            "genres": [["Comedy", "Drama"], ["Horror"], ["comedy"], [], ["Drama", "Horror", "Comedy"]],
            "year": pd.array([1991, 1999, None, 2005, 1990], dtype="Int64"),
            "runtime": [90.5, 101.0, 88.0, None, 120.25],
            "family": [True, False, True, False, False],
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": ["ann", "ann", "ann", "bob", "bob", "cid"],
            "item_id": [offset + i for i in (12, 10, 11, 10, 14, 13)],
            "rating": [4.0, 5.0, 3.0, 2.0, 4.5, 1.0],
            # ann's first two share a timestamp: dataset order must break the tie.
            "timestamp": [100, 100, 50, 7, 8, 9],
        }
    )
    return Dataset.from_frames(interactions, items, name=name)


@pytest.fixture(scope="session")
def movielens() -> Dataset:
    """ml-latest-small with genres and tags as lists, the year from the title, tags as text."""
    movies = pd.read_csv(MOVIELENS / "movies.csv")
    ratings = pd.read_csv(MOVIELENS / "ratings.csv")
    tags = pd.read_csv(MOVIELENS / "tags.csv")
    tag_lists = tags.groupby("movieId")["tag"].agg(lambda values: list(dict.fromkeys(map(str, values))))
    year = pd.to_numeric(movies["title"].str.extract(r"\((\d{4})\)\s*$")[0])
    items = pd.DataFrame(
        {
            "item_id": movies["movieId"],
            "title": movies["title"],
            "genres": movies["genres"].str.split("|"),
            "tags": movies["movieId"].map(tag_lists).map(lambda v: v if isinstance(v, list) else []),
            "year": pd.array(year, dtype="Int64"),
        }
    )
    items["text"] = items["tags"].map(" ".join)
    interactions = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    return Dataset.from_frames(interactions, items, name="ml-latest-small")


@pytest.fixture(scope="session", params=BACKENDS)
def movielens_store(
    request: pytest.FixtureRequest, movielens: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CatalogStore]:
    """ml-latest-small imported once per backend; tests must only read from it."""
    folder = tmp_path_factory.mktemp("movielens")
    with store_url_for(request.param, request, folder) as url, CatalogStore(url) as opened:
        opened.import_dataset(movielens)
        yield opened
