"""Profile summaries in plain words, computed without an LLM.

:func:`build_profile_summary` describes a user's rating history (what the agent can say about a known
user before the first message); :func:`profile_summary` describes what the memory remembers.

Both are deterministic: the same input always gives the same text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, RecpilotError, UnknownIdError
from recpilot.memory.base import Preference, PreferenceKind, UserProfile

#: Favourite genres and titles named in a history summary.
TOP_GENRES: Final = 3
TOP_TITLES: Final = 3
#: A second decade is named when it weighs at least this share of the first.
SECOND_DECADE_SHARE: Final = 0.5
#: How far (in rating points) a user's mean may sit from everyone's mean and still be "about average".
HABIT_MARGIN: Final = 0.5
#: Summaries shorter than this cannot say anything useful.
MIN_LEN: Final = 40

# MovieLens marks items without genres with "(no genres listed)": a placeholder, not a taste.
_PLACEHOLDER = re.compile(r"^\(.*\)$")

_ITEM_LABELS: Final[tuple[tuple[PreferenceKind, str], ...]] = (
    ("like_item", "Likes"),
    ("dislike_item", "Dislikes"),
)
_ATTRIBUTE_LABELS: Final[tuple[tuple[PreferenceKind, str], ...]] = (
    ("like_attribute", "Likes"),
    ("dislike_attribute", "Dislikes"),
)


def build_profile_summary(
    dataset: Dataset,
    user_external_id: object,
    *,
    max_len: int = 300,
    genre_attribute: str = "genres",
    year_attribute: str = "year",
) -> str:
    """A short description of a user's taste from their ratings.

    Each rated item weighs ``max(0, rating - user_mean + 1)``: an item rated at the user's own mean
    counts once, one point above twice, one point below not at all, so a generous rater's 4-star
    films count less than their 5-star ones. Favourite genres and the typical decades are the
    heaviest by that weight (plain counts for implicit feedback, where every weight is 1). The
    favourite titles are the user's highest rated, ties going to the more popular item. Rating
    habits compare the user's mean with the mean of all ratings.

    Args:
        dataset: The data holding the user's history.
        user_external_id: The user's id in the dataset; a string of digits also finds an integer id
            (memory user ids are strings).
        max_len: Longest summary, in characters; titles, then whole sentences, are dropped to fit.
        genre_attribute: The list attribute naming genres (skipped when the catalog has none).
        year_attribute: The numeric year attribute (skipped when the catalog has none).

    Raises:
        ConfigError: ``max_len`` is below :data:`MIN_LEN`.
        UnknownIdError: The user is not in the dataset.

    Example:
        >>> from recpilot.data.builtin import load_builtin
        >>> build_profile_summary(load_builtin(), 1)[:43]
        'Rated 232 items and rates generously (mean '
    """
    if max_len < MIN_LEN:
        raise ConfigError(f"build_profile_summary: max_len must be at least {MIN_LEN}, got {max_len}")
    user = _user_index(dataset, user_external_id)
    history = dataset.interactions[dataset.interactions[Columns.USER_IDX] == user]
    ratings = history[Columns.RATING].to_numpy(dtype=np.float64)
    rows = dataset.catalog.iloc[history[Columns.ITEM_IDX].to_numpy()]
    weights = np.clip(ratings - ratings.mean() + 1.0, 0.0, None)

    sentences = [_habits(dataset, ratings)]
    if genre_attribute in rows.columns:
        genres = _top_genres(rows[genre_attribute], weights)
        if genres:
            sentences.append(f"Favourite genres: {', '.join(genres)}.")
    if year_attribute in rows.columns:
        decades = _top_decades(rows[year_attribute], weights)
        if decades:
            sentences.append(f"Mostly {' and '.join(f'{d}s' for d in decades)} titles.")
    titles = _favourite_titles(dataset, history, ratings)
    return _fit(sentences, titles, max_len)


def profile_summary(profile: UserProfile, catalog_titles: Callable[[str], str] | None = None) -> str:
    """The remembered preferences in words, grouped by kind, oldest first within each group.

    Args:
        profile: The profile to describe (expired preferences are left out; the profile's own
            ``summary`` is not repeated).
        catalog_titles: Turns an item id (as stored, text) into its title; ids it cannot resolve
            (it raises a ``LookupError`` or a :class:`RecpilotError`) are shown as ``item <id>``.
            None shows every item as ``item <id>``.

    Example:
        >>> from recpilot.memory.base import Preference
        >>> liked = Preference(kind="like_attribute", value="genres=Horror")
        >>> profile_summary(UserProfile(user_id="ann", preferences=[liked]))
        'Likes genres: Horror.'
    """
    active = [p for p in profile.preferences if p.active()]
    if not active:
        return "No remembered preferences."
    sentences: list[str] = []
    for kind, label in _ITEM_LABELS:
        items = [_item_name(p.value, catalog_titles) + _until(p.expires_at) for p in active if p.kind == kind]
        if items:
            sentences.append(f"{label}: {', '.join(items)}.")
    for kind, label in _ATTRIBUTE_LABELS:
        for attribute, values in _by_attribute(active, kind).items():
            sentences.append(f"{label} {attribute}: {', '.join(values)}.")
    constraints = [p.value + _until(p.expires_at) for p in active if p.kind == "constraint"]
    if constraints:
        sentences.append(f"Constraints: {'; '.join(constraints)}.")
    return " ".join(sentences)


# -- history ----------------------------------------------------------------------------------------------


def _user_index(dataset: Dataset, user: object) -> int:
    try:
        return dataset.users.index_of(user)
    except UnknownIdError:
        if isinstance(user, str) and dataset.users.external_ids.dtype.kind in "iu":
            try:
                return dataset.users.index_of(int(user))
            except (ValueError, UnknownIdError):
                pass
        raise UnknownIdError("user", [user], f"the dataset {dataset.name!r} has no such user") from None


def _habits(dataset: Dataset, ratings: npt.NDArray[np.float64]) -> str:
    count = f"{len(ratings):,} item{'s' if len(ratings) != 1 else ''}"
    if dataset.implicit:
        return f"Interacted with {count}."
    mean = float(ratings.mean())
    overall = float(dataset.interactions[Columns.RATING].mean())
    if mean >= overall + HABIT_MARGIN:
        habit = "rates generously"
    elif mean <= overall - HABIT_MARGIN:
        habit = "rates strictly"
    else:
        habit = "rates about average"
    return f"Rated {count} and {habit} (mean {mean:.1f} vs {overall:.1f} overall)."


def _top_genres(values: pd.Series, weights: npt.NDArray[np.float64]) -> list[str]:
    scores: dict[str, float] = {}
    for genres, weight in zip(values, weights, strict=True):
        for genre in _as_list(genres):
            name = str(genre)
            if not _PLACEHOLDER.match(name):
                scores[name] = scores.get(name, 0.0) + float(weight)
    ranked = sorted((item for item in scores.items() if item[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return [name for name, _ in ranked[:TOP_GENRES]]


def _top_decades(years: pd.Series, weights: npt.NDArray[np.float64]) -> list[int]:
    numeric = pd.to_numeric(years, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    known = ~np.isnan(numeric)
    if not known.any():
        return []
    decades = (numeric[known] // 10 * 10).astype(np.int64)
    totals = pd.Series(weights[known]).groupby(decades).sum()
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked or ranked[0][1] <= 0:
        return []
    chosen = [int(ranked[0][0])]
    if len(ranked) > 1 and ranked[1][1] >= SECOND_DECADE_SHARE * ranked[0][1]:
        chosen.append(int(ranked[1][0]))
    return chosen


def _favourite_titles(dataset: Dataset, history: pd.DataFrame, ratings: npt.NDArray[np.float64]) -> list[str]:
    items = history[Columns.ITEM_IDX].to_numpy()
    titles = dataset.titles(items)
    popularity = dataset.item_popularity[items]
    order = sorted(range(len(items)), key=lambda i: (-ratings[i], -popularity[i], titles[i]))
    return [titles[i] for i in order[:TOP_TITLES]]


def _fit(sentences: list[str], titles: list[str], max_len: int) -> str:
    """Join sentences, dropping titles and then trailing sentences until the text fits."""
    for n_titles in range(len(titles), 0, -1):
        text = " ".join([*sentences, f"Top rated: {'; '.join(titles[:n_titles])}."])
        if len(text) <= max_len:
            return text
    for n_sentences in range(len(sentences), 0, -1):
        text = " ".join(sentences[:n_sentences])
        if len(text) <= max_len:
            return text
    return sentences[0][: max_len - 1] + "…"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return [] if value is None or (isinstance(value, float) and np.isnan(value)) else [value]


# -- remembered preferences ---------------------------------------------------------------------------


def _item_name(item_id: str, catalog_titles: Callable[[str], str] | None) -> str:
    if catalog_titles is not None:
        try:
            return catalog_titles(item_id)
        except (LookupError, RecpilotError):
            pass
    return f"item {item_id}"


def _by_attribute(prefs: list[Preference], kind: PreferenceKind) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for pref in prefs:
        if pref.kind == kind:
            attribute, sep, value = pref.value.partition("=")
            name, shown = (attribute.strip(), value.strip()) if sep else ("attributes", pref.value)
            grouped.setdefault(name, []).append(shown + _until(pref.expires_at))
    return grouped


def _until(expires_at: float | None) -> str:
    if expires_at is None:
        return ""
    day = dt.datetime.fromtimestamp(expires_at, tz=dt.UTC).date().isoformat()
    return f" (until {day})"
