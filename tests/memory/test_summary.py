"""History and profile summaries, checked against figures computed here straight from the raw CSV files."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import pytest

from recpilot.data.builtin import builtin_folder, load_builtin
from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, UnknownIdError
from recpilot.memory import Preference, UserProfile
from recpilot.memory.summary import build_profile_summary, profile_summary


@pytest.fixture(scope="module")
def movielens() -> Dataset:
    return load_builtin()


@pytest.fixture(scope="module")
def raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings and movies read directly with pandas, bypassing recpilot's loaders."""
    folder = builtin_folder()
    with (folder / "ratings.csv.gz").open("rb") as ratings, (folder / "movies.csv.gz").open("rb") as movies:
        return pd.read_csv(ratings, compression="gzip"), pd.read_csv(movies, compression="gzip")


@dataclass
class Expected:
    count: int
    offset: float
    genres: list[str]
    decades: list[int]
    titles: list[str]


def _expected(raw: tuple[pd.DataFrame, pd.DataFrame], user: int) -> Expected:
    """The summary's figures for ``user`` by the documented rule, computed independently."""
    ratings, movies = raw
    mine = ratings[ratings["userId"] == user].merge(movies, on="movieId")
    weight = (mine["rating"] - mine["rating"].mean() + 1).clip(lower=0)
    genres = (
        mine.assign(weight=weight, genre=mine["genres"].str.split("|"))
        .explode("genre")
        .query("genre != '(no genres listed)'")
        .groupby("genre")["weight"]
        .sum()
    )
    top_genres = sorted(genres[genres > 0].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    year = pd.to_numeric(mine["title"].str.strip().str.extract(r"\((\d{4})\)\s*$")[0])
    decades = (
        pd.DataFrame({"decade": year // 10 * 10, "weight": weight}).dropna().groupby("decade")["weight"].sum()
    )
    ranked = sorted(decades.items(), key=lambda kv: (-kv[1], kv[0]))
    top_decades = [int(ranked[0][0])] + [int(d) for d, w in ranked[1:2] if w >= 0.5 * ranked[0][1]]
    popularity = ratings.groupby("movieId")["userId"].nunique()
    favourites = mine.assign(popularity=mine["movieId"].map(popularity), title=mine["title"].str.strip())
    favourites = favourites.sort_values(["rating", "popularity", "title"], ascending=[False, False, True])
    return Expected(
        count=len(mine),
        offset=float(mine["rating"].mean() - ratings["rating"].mean()),
        genres=[str(g) for g, _ in top_genres],
        decades=top_decades,
        titles=favourites["title"].head(3).tolist(),
    )


@pytest.mark.parametrize("user", [1, 2, 414])
def test_history_summary_matches_independent_figures(
    movielens: Dataset, raw: tuple[pd.DataFrame, pd.DataFrame], user: int
) -> None:
    expected = _expected(raw, user)
    summary = build_profile_summary(movielens, user, max_len=1_000)
    assert summary.startswith(f"Rated {expected.count:,} items and ")
    assert f"Favourite genres: {', '.join(expected.genres)}." in summary
    decades = " and ".join(f"{d}s" for d in expected.decades)
    assert f"Mostly {decades} titles." in summary
    assert f"Top rated: {'; '.join(expected.titles)}." in summary
    offset = expected.offset
    habit = "generously" if offset >= 0.5 else "strictly" if offset <= -0.5 else "about average"
    assert f"rates {habit}" in summary


def test_user_one_reads_as_a_generous_action_adventure_fan_of_the_nineties(movielens: Dataset) -> None:
    summary = build_profile_summary(movielens, 1)
    assert "rates generously" in summary, "user 1's mean (4.37) is far above everyone's (3.50)"
    assert "Favourite genres: Action, Adventure" in summary
    assert "Mostly 1990s" in summary
    assert len(summary) <= 300


def test_strict_rater_and_string_ids(movielens: Dataset, raw: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ratings, _ = raw
    means = ratings.groupby("userId")["rating"].agg(["mean", "size"])
    harshest = int(means[means["size"] >= 20]["mean"].idxmin())
    summary = build_profile_summary(movielens, str(harshest))
    assert "rates strictly" in summary
    assert summary == build_profile_summary(movielens, harshest), "memory's string ids find integer users"


def test_weights_follow_ratings_not_counts() -> None:
    # ann watches many comedies she rates low and a few horror films she loves.
    items = pd.DataFrame(
        {
            "item_id": range(10),
            "title": [f"Film {i}" for i in range(10)],
            "genres": [["Comedy"]] * 7 + [["Horror"]] * 3,
            "year": [1985] * 7 + [2012] * 3,
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": ["ann"] * 10 + ["bob"] * 10,
            "item_id": list(range(10)) * 2,
            "rating": [1.0] * 7 + [5.0] * 3 + [3.0] * 10,
        }
    )
    dataset = Dataset.from_frames(interactions, items, name="toy")
    summary = build_profile_summary(dataset, "ann")
    assert "Favourite genres: Horror." in summary, "below-mean comedies weigh nothing"
    assert "Mostly 2010s titles." in summary
    assert "Top rated: Film 7; Film 8; Film 9." in summary
    flat = build_profile_summary(dataset, "bob")
    assert "Favourite genres: Comedy, Horror." in flat, "equal ratings fall back to counts"
    assert "Mostly 1980s titles." in flat, "3 against 7 is below the second decade's share"


def test_implicit_data_and_missing_attributes() -> None:
    interactions = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"]})
    summary = build_profile_summary(Dataset.from_frames(interactions, name="clicks"), "u")
    assert summary.startswith("Interacted with 2 items.")
    assert "rates" not in summary
    assert "genres" not in summary


def test_length_limit_drops_titles_then_sentences(movielens: Dataset) -> None:
    full = build_profile_summary(movielens, 1, max_len=1_000)
    full_head, full_titles = full.split(" Top rated: ")
    lengths = []
    for limit in range(40, len(full) + 1, 10):
        short = build_profile_summary(movielens, 1, max_len=limit)
        assert len(short) <= limit
        lengths.append(len(short))
        head, _, titles = short.partition(" Top rated: ")
        if head.endswith("…"):
            assert full.startswith(head[:-1]), "only the first sentence is ever cut mid-way"
        else:
            assert full_head.startswith(head), "whole sentences, in order"
        assert full_titles.startswith(titles.rstrip(".")), "the best titles stay"
    assert lengths == sorted(lengths), "more room never says less"
    assert build_profile_summary(movielens, 1, max_len=len(full)) == full
    with pytest.raises(ConfigError, match="max_len"):
        build_profile_summary(movielens, 1, max_len=10)


def test_unknown_user(movielens: Dataset) -> None:
    with pytest.raises(UnknownIdError, match="'nobody'"):
        build_profile_summary(movielens, "nobody")
    with pytest.raises(UnknownIdError):
        build_profile_summary(movielens, 99_999)


def test_history_summary_is_deterministic(movielens: Dataset) -> None:
    first = [build_profile_summary(movielens, u) for u in (1, 68, 414)]
    assert first == [build_profile_summary(movielens, u) for u in (1, 68, 414)]


# -- remembered preferences --------------------------------------------------------------------------------


def test_profile_summary_groups_preferences_in_words() -> None:
    titles = {"1": "Toy Story (1995)", "2": "Heat (1995)"}
    day = 1_900_000_000.0  # 2030-03-17 UTC
    profile = UserProfile(
        user_id="ann",
        preferences=[
            Preference(kind="like_item", value="1"),
            Preference(kind="like_attribute", value="genres=Horror"),
            Preference(kind="dislike_item", value="2"),
            Preference(kind="like_item", value="999"),
            Preference(kind="like_attribute", value="genres=Comedy", expires_at=day),
            Preference(kind="dislike_attribute", value="year=1980"),
            Preference(kind="like_attribute", value="subtitles"),
            Preference(kind="constraint", value="under two hours"),
            Preference(kind="constraint", value="gone", expires_at=time.time() - 1),
        ],
        summary="not repeated",
    )
    text = profile_summary(profile, titles.__getitem__)
    assert text == (
        "Likes: Toy Story (1995), item 999. Dislikes: Heat (1995). "
        "Likes genres: Horror, Comedy (until 2030-03-17). Likes attributes: subtitles. "
        "Dislikes year: 1980. Constraints: under two hours."
    )
    assert "Likes: item 1, item 999." in profile_summary(profile)


def test_profile_summary_of_an_empty_profile() -> None:
    assert profile_summary(UserProfile(user_id="ann")) == "No remembered preferences."
    expired = Preference(kind="like_item", value="1", expires_at=time.time() - 1)
    assert profile_summary(UserProfile(user_id="ann", preferences=[expired])) == "No remembered preferences."
