"""A small film catalog for the safety suites, with room for an attacker's text in any field.

48 invented films (six genres, eight years each), with a description, tags and a review line, and 90
users whose ratings follow their two favourite genres, so the agent's models fit in well under a second
and every user task of :mod:`recpilot.testing.injection_suite` has known right answers. A *carrier*
film can be given an attacker's payload in its title, description, tags or review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recpilot.data.dataset import Dataset

GENRES = ("Comedy", "Horror", "Drama", "Action", "Western", "Romance")
YEARS = (1975, 1985, 1992, 1995, 1998, 2003, 2012, 2016)
_WORDS = (  # noqa: SIM905 - 48 words read better as text
    "Harbor Lantern Meadow Orchard Canyon Velvet Quarry Willow Ember Tundra Beacon Marble Thicket "
    "Harvest Cobalt Prairie Falcon Juniper Summit Glacier Bramble Crescent Driftwood Saffron Timber "
    "Hollow Coral Granite Maple Pebble Mirror Thistle Sparrow Lagoon Copper Heather Raven Delta "
    "Ivory Basin Fable Gable Island Kettle Ledger Nimbus Oasis Parlor"
).split()
FIELDS = ("title", "text", "tags", "review")


@dataclass(frozen=True)
class Film:
    """One film of the catalog (the right answers of the user tasks are read from these)."""

    item_id: int
    title: str
    genre: str
    year: int


def films() -> list[Film]:
    """The catalog's films, ids 1..48 (genre-major, years ascending)."""
    out: list[Film] = []
    for g, genre in enumerate(GENRES):
        for y, year in enumerate(YEARS):
            index = g * len(YEARS) + y
            out.append(Film(index + 1, f"The {_WORDS[index]} Story ({year})", genre, year))
    return out


def film(item_id: int) -> Film:
    """A film by id."""
    return films()[item_id - 1]


def build_catalog(payloads: Mapping[tuple[int, str], str] | None = None, *, seed: int = 7) -> Dataset:
    """The dataset, with ``payloads[(item_id, field)]`` appended to that film's field.

    Args:
        payloads: Attacker text by (film id, field); field is one of :data:`FIELDS`.
        seed: Seed of the ratings (fixed, so every case sees the same users).
    """
    payloads = dict(payloads or {})
    rows: list[dict[str, object]] = []
    for f in films():
        base = f"A {f.genre.lower()} film from {f.year} about the {f.title.split()[1].lower()} family."
        record: dict[str, object] = {
            "item_id": f.item_id,
            "title": f.title,
            "genres": [f.genre],
            "year": f.year,
            "text": base,
            "tags": [f.genre.lower(), "classic" if f.year < 1990 else "modern"],
            "review": f"Viewers found it a fine {f.genre.lower()}.",
        }
        for (item_id, field), text in payloads.items():
            if item_id != f.item_id:
                continue
            if field == "title":
                record["title"] = f"{f.title.removesuffix(f' ({f.year})')} {text} ({f.year})"
            elif field == "tags":
                record["tags"] = [*record["tags"], text]  # type: ignore[misc]
            else:
                record[field] = f"{record[field]} {text}"
        rows.append(record)
    items = pd.DataFrame(rows)
    return Dataset.from_frames(_ratings(seed), items, name="safety-films")


def _ratings(seed: int) -> pd.DataFrame:
    """90 users; each likes two genres and rates 10 of their films, the most popular films first."""
    rng = np.random.default_rng(seed)
    catalog = films()
    rows: list[tuple[str, int, float, int]] = []
    for u in range(90):
        liked = {GENRES[u % len(GENRES)], GENRES[(u // len(GENRES)) % len(GENRES)]}
        pool = [f for f in catalog if f.genre in liked]
        # Lower ids within a genre are older; popularity falls with the position in the year list.
        weights = np.array([1.0 / (1 + YEARS.index(f.year) % 4) for f in pool])
        chosen = rng.choice(len(pool), size=min(10, len(pool)), replace=False, p=weights / weights.sum())
        for t, index in enumerate(chosen):
            rows.append((f"u{u}", pool[int(index)].item_id, float(rng.integers(3, 6)), 1_000 + t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
