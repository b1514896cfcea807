"""Catalog search on ml-latest-small, on SQLite and PostgreSQL, checked against pandas."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.store import CatalogQuery, CatalogStore, SearchHit
from recpilot.store.search import MAX_LIMIT, fts5_expression, text_tokens

ALL = MAX_LIMIT


def _ids(hits: list[SearchHit]) -> set[int | str]:
    return {hit.item_id for hit in hits}


def _has(values: list[str], wanted: set[str]) -> bool:
    return any(value.casefold() in wanted for value in values)


def _expected(movielens: Dataset, keep: Callable[[pd.Series], bool]) -> set[int | str]:
    catalog = movielens.catalog
    return set(catalog.loc[catalog.apply(keep, axis=1), "item_id"].tolist())


def _words(title: str) -> list[str]:
    return re.findall(r"\w+", title.casefold())


def test_keyword_search_ranks_the_exact_title_first(movielens_store: CatalogStore) -> None:
    hits = movielens_store.search(CatalogQuery(text="toy story"))
    assert hits[0].title == "Toy Story (1995)"
    assert {"Toy Story 2 (1999)", "Toy Story 3 (2010)"} <= {h.title for h in hits[:5]}
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [h.item_id for h in movielens_store.search(CatalogQuery(text="TOY  Story!"))] == [
        h.item_id for h in hits
    ]


def test_keyword_search_matches_every_word_stemmed(movielens_store: CatalogStore, movielens: Dataset) -> None:
    hits = movielens_store.search(CatalogQuery(text="toys stories", limit=ALL))
    assert hits
    catalog = movielens.catalog
    text_of = dict(zip(catalog["item_id"], catalog["title"] + " " + catalog["text"], strict=True))
    for hit in hits:
        words = _words(text_of[hit.item_id])
        assert any(w.startswith("toy") for w in words)
        assert any(w.startswith("stor") for w in words)


def test_any_match_is_a_superset_of_all(movielens_store: CatalogStore) -> None:
    every = _ids(movielens_store.search(CatalogQuery(text="matrix reloaded", limit=ALL)))
    some = _ids(movielens_store.search(CatalogQuery(text="matrix reloaded", match="any", limit=ALL)))
    assert every < some


def test_text_column_is_searched(movielens_store: CatalogStore, movielens: Dataset) -> None:
    # "pixar" is a tag of Toy Story (in the text column), never a word of its title.
    hits = movielens_store.search(CatalogQuery(text="pixar", limit=ALL))
    assert 1 in _ids(hits)
    assert "pixar" not in movielens.catalog.set_index("item_id").loc[1, "title"].casefold()


def test_attribute_filter_is_any_within_and_across(movielens_store: CatalogStore, movielens: Dataset) -> None:
    query = CatalogQuery(attributes={"genres": ["comedy", "ROMANCE"], "tags": ["Funny"]}, limit=ALL)
    expected = _expected(
        movielens, lambda row: _has(row["genres"], {"comedy", "romance"}) and _has(row["tags"], {"funny"})
    )
    assert expected
    assert _ids(movielens_store.search(query)) == expected


def test_numeric_range_is_inclusive(movielens_store: CatalogStore, movielens: Dataset) -> None:
    hits = movielens_store.search(CatalogQuery(numeric={"year": (1990, 1999)}, limit=ALL))
    assert _ids(hits) == _expected(
        movielens, lambda row: row["year"] is not pd.NA and 1990 <= row["year"] <= 1999
    )
    assert {h.year for h in hits} == set(range(1990, 2000))
    open_ended = movielens_store.search(CatalogQuery(numeric={"year": (None, 1920)}, limit=ALL))
    assert _ids(open_ended) == _expected(
        movielens, lambda row: row["year"] is not pd.NA and row["year"] <= 1920
    )


def test_exclusions(movielens_store: CatalogStore, movielens: Dataset) -> None:
    query = CatalogQuery(
        exclude_attributes={"genres": ["Horror", "drama"]}, exclude_item_ids=[1, "2"], limit=ALL
    )
    expected = _expected(movielens, lambda row: not _has(row["genres"], {"horror", "drama"})) - {1, 2}
    assert _ids(movielens_store.search(query)) == expected


def test_combined_constraints_all_hold(movielens_store: CatalogStore, movielens: Dataset) -> None:
    def keep(row: pd.Series) -> bool:
        return (
            _has(row["genres"], {"comedy"})
            and row["year"] is not pd.NA
            and 1990 <= row["year"] <= 1999
            and not _has(row["genres"], {"horror"})
        )

    base = CatalogQuery(
        attributes={"genres": ["comedy"]},
        numeric={"year": (1990, 1999)},
        exclude_attributes={"genres": ["horror"]},
        limit=ALL,
    )
    expected = _expected(movielens, keep)
    assert _ids(movielens_store.search(base)) == expected
    with_text = movielens_store.search(base.model_copy(update={"text": "love"}))
    assert with_text
    assert _ids(with_text) <= expected


def test_item_id_restriction(movielens_store: CatalogStore) -> None:
    query = CatalogQuery(
        item_ids=[1, "2", 3, 999_999], exclude_item_ids=[3], attributes={"genres": ["children"]}
    )
    assert _ids(movielens_store.search(query)) == {1, 2}


def test_limit_and_orderings(movielens_store: CatalogStore, movielens: Dataset) -> None:
    base = CatalogQuery(attributes={"genres": ["documentary"]}, limit=ALL)
    every = movielens_store.search(base)
    assert len(movielens_store.search(base.model_copy(update={"limit": 7}))) == 7

    popularity = dict(
        zip(movielens.items.external_ids.tolist(), movielens.item_popularity.tolist(), strict=True)
    )
    assert all(h.popularity == popularity[h.item_id] for h in every)
    by_popularity = [h.popularity for h in every]  # relevance without text falls back to popularity
    assert by_popularity == sorted(by_popularity, reverse=True)

    years = [h.year for h in movielens_store.search(base.model_copy(update={"order_by": "year"}))]
    known = [y for y in years if y is not None]
    assert known == sorted(known)
    assert years[len(known) :] == [None] * (len(years) - len(known))  # unknown years last
    newest = [h.year for h in movielens_store.search(base.model_copy(update={"order_by": "-year"}))]
    assert [y for y in newest if y is not None] == sorted(known, reverse=True)

    titles = [h.title.lower() for h in movielens_store.search(base.model_copy(update={"order_by": "title"}))]
    ascii_titles = [t for t in titles if t.isascii()]  # SQLite's lower() folds ASCII only
    assert ascii_titles == sorted(ascii_titles)


@pytest.mark.parametrize(
    "query",
    [
        CatalogQuery(attributes={"genres": ["drama"]}, numeric={"year": (2000, 2018)}, limit=ALL),
        CatalogQuery(text="star wars", match="any", limit=50),
        CatalogQuery(text="toy story", limit=5, order_by="year"),
    ],
    ids=["constraints", "text-any", "text-year"],
)
def test_search_indices_are_the_hits_in_order(
    movielens_store: CatalogStore, movielens: Dataset, query: CatalogQuery
) -> None:
    hits = movielens_store.search(query)
    indices, scores = movielens_store.search_indices(query)
    assert hits, "the query must find something to compare"
    assert movielens.items.external_ids[indices].tolist() == [h.item_id for h in hits]
    assert scores.tolist() == [h.score for h in hits]


def test_search_indices_can_return_every_hit_past_the_limit(movielens_store: CatalogStore) -> None:
    query = CatalogQuery(attributes={"genres": ["comedy"]}, limit=10)
    assert len(movielens_store.search_indices(query)[0]) == 10
    every, _ = movielens_store.search_indices(query, every=True)
    assert len(every) == len(movielens_store.search(query.model_copy(update={"limit": ALL}))) > 10


def test_numbers_are_accepted_as_attribute_values(movielens_store: CatalogStore, movielens: Dataset) -> None:
    hits = movielens_store.search(CatalogQuery.model_validate({"attributes": {"year": [1995]}, "limit": ALL}))
    assert _ids(hits) == _expected(movielens, lambda row: row["year"] is not pd.NA and row["year"] == 1995)


def test_typed_attribute_values(store: CatalogStore, small: Dataset) -> None:
    store.import_dataset(small)

    def ids(**fields: object) -> set[int | str]:
        return _ids(store.search(CatalogQuery.model_validate({**fields, "limit": ALL})))

    assert ids(numeric={"runtime": (90, 101)}) == {10, 11}  # 90.5 and 101.0, bounds inclusive
    assert ids(numeric={"runtime": (100.5, None)}) == {11, 14}  # 13 has no runtime
    assert ids(attributes={"family": [True]}) == ids(attributes={"family": ["TRUE"]}) == {10, 12}
    assert ids(attributes={"year": [1991.0, "1999"]}) == {10, 11}
    assert ids(exclude_attributes={"genres": ["comedy"]}) == {11, 13}
    with pytest.raises(ConfigError, match="numeric range on 'family'"):
        ids(numeric={"family": (0, 1)})


def test_unknown_attributes_are_named(movielens_store: CatalogStore) -> None:
    with pytest.raises(ConfigError, match=r"unknown attribute 'genre'.*'genres'"):
        movielens_store.search(CatalogQuery(attributes={"genre": ["comedy"]}))
    with pytest.raises(ConfigError, match=r"numeric range on 'genres'.*'year'"):
        movielens_store.search(CatalogQuery(numeric={"genres": (1, 2)}))


@pytest.mark.parametrize(
    "fields",
    [
        {"colour": "red"},
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"numeric": {"year": (2000, 1990)}},
        {"attributes": {"genres": []}},
        {"order_by": "rating"},
        {"attributes": {"genres": ["com\x00edy"]}},
        {"exclude_item_ids": ["1\x00"]},
    ],
)
def test_invalid_queries_are_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CatalogQuery.model_validate(fields)


def test_fts5_expression_quotes_every_token() -> None:
    tokens = text_tokens('toy "story" NEAR(AND) -x:y*')
    assert tokens == ["toy", "story", "NEAR", "AND", "x", "y"]
    expression = fts5_expression(tokens, "all")
    assert expression == '"toy" AND "story" AND "NEAR" AND "AND" AND "x" AND "y"'
    assert fts5_expression(["toy"], "any") == '"toy"'
    assert fts5_expression(["toy", "story"], "any") == '"toy" OR "story" OR "toy story"'


NASTY = [
    "",
    "!!!",
    '"',
    'toy"',
    '""""',
    "toy*",
    "*",
    "-toy",
    "title:toy",
    "text:",
    "AND",
    "toy AND",
    "OR OR OR",
    "NOT toy",
    "NEAR(toy story, 2)",
    "toy NEAR story",
    "^toy",
    "{title text}: toy",
    "(toy",
    "'; DROP TABLE items; --",
    "\x00toy",
    "toy\x00story",
    "the a an of",
    "😀 toy",
    "_",
    "x" * 2_000,
]


def _search_never_fails(store: CatalogStore, text: str, match: str) -> None:
    hits = store.search(CatalogQuery.model_validate({"text": text, "match": match, "limit": 20}))
    assert isinstance(hits, list)
    assert all(isinstance(hit, SearchHit) for hit in hits)


@pytest.mark.parametrize("text", NASTY)
@pytest.mark.parametrize("match", ["all", "any"])
def test_adversarial_text_is_plain_words(movielens_store: CatalogStore, text: str, match: str) -> None:
    _search_never_fails(movielens_store, text, match)
    assert movielens_store.info().n_items == 9742


def test_text_without_words_matches_nothing(movielens_store: CatalogStore) -> None:
    assert movielens_store.search(CatalogQuery(text="*** -- ::")) == []


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from([*NASTY[:20], "toy", "story", "matrix", " "]), max_size=6).map("".join),
    ),
    match=st.sampled_from(["all", "any"]),
)
def test_any_text_returns_hits_or_nothing(movielens_store: CatalogStore, text: str, match: str) -> None:
    _search_never_fails(movielens_store, text, match)
