"""Persona traits on a hand-made dataset with known answers, and population sampling."""

from __future__ import annotations

import pandas as pd
import pytest

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.simulation.persona import build_personas, sample_population


def _tiny() -> Dataset:
    # items 1-3 are popular (every user has them); 4-9 are niche.
    rows = [
        ("heavy", 1, 5.0), ("heavy", 2, 4.0), ("heavy", 3, 4.5), ("heavy", 4, 3.0), ("heavy", 5, 2.0),
        ("heavy", 6, 1.0),
        ("crowd", 1, 4.0), ("crowd", 2, 4.5), ("crowd", 3, 4.5),
        ("niche", 7, 3.0), ("niche", 8, 3.0),
        ("mixed", 1, 1.0), ("mixed", 9, 4.0),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    frame["timestamp"] = range(len(frame))
    genres = {1: ["Drama"], 2: ["Comedy"], 3: ["Horror"], 4: ["Western"], 5: ["Drama"], 6: ["Comedy"],
              7: ["Drama"], 8: ["Drama"], 9: ["Horror"]}  # fmt: skip
    items = pd.DataFrame({"item_id": list(genres), "title": [f"Movie {i}" for i in genres],
                          "genres": list(genres.values())})  # fmt: skip
    return Dataset.from_frames(frame, items, name="tiny")


def test_traits_have_the_known_ordering() -> None:
    personas = {p.user_id: p for p in build_personas(_tiny())}
    assert set(personas) == {"heavy", "crowd", "niche", "mixed"}
    # the user with the most interactions is the most active; the fewest the least
    assert personas["heavy"].activity == 1.0
    assert personas["heavy"].activity > personas["crowd"].activity > personas["niche"].activity
    assert personas["niche"].activity == personas["mixed"].activity == pytest.approx(1 / 6)
    # only popular items and ratings in line with the crowd: the most conformist; niche-only the least
    assert max(personas.values(), key=lambda p: p.conformity).user_id == "crowd"
    assert min(personas.values(), key=lambda p: p.conformity).user_id == "niche"
    # one genre only: zero diversity; four different genres: the most diverse
    assert personas["niche"].diversity == 0.0
    assert max(personas.values(), key=lambda p: p.diversity).user_id == "heavy"
    assert personas["crowd"].rating_mean == pytest.approx(13 / 3)
    assert personas["niche"].rating_std == 0.0
    assert personas["niche"].history == ["7", "8"]
    for p in personas.values():
        assert 0.0 <= p.conformity <= 1.0
        assert 0.0 <= p.diversity <= 1.0
        assert "You are" in p.description


def test_description_names_favourite_genres_and_liked_titles() -> None:
    niche = next(p for p in build_personas(_tiny()) if p.user_id == "niche")
    assert "Drama" in niche.description
    assert "Movie 8" in niche.description  # liked (at or above the mean) and most recent


def test_population_beyond_the_real_users_has_distinct_ids_and_is_seeded() -> None:
    data = _tiny()
    personas = build_personas(data)
    population = sample_population(personas, data, 10, seed=3)
    assert len({u.sim_id for u in population}) == 10
    counts = pd.Series([u.persona.user_id for u in population]).value_counts()
    assert counts.max() - counts.min() <= 1  # balanced resampling
    assert [u.sim_id for u in sample_population(personas, data, 10, seed=3)] == [u.sim_id for u in population]
    assert [u.sim_id for u in sample_population(personas, data, 10, seed=4)] != [u.sim_id for u in population]
    for user in population:
        assert data.users.external_ids[user.user_idx] == user.persona.user_id


def test_population_size_is_checked() -> None:
    data = _tiny()
    with pytest.raises(ConfigError, match="at least 1"):
        sample_population(build_personas(data), data, 0, seed=1)
