"""The catalog's own vocabulary: what a phrase means here (genre values, topics, moods) and title lookup.

Everything that can be read from the catalog is: attribute values (``genres``), user tags (topics),
titles and their alternative titles, the span of years. A small curated lexicon adds the words people
use for those values ("sci-fi", "cartoon", "romcom", "scary") and for moods that only text similarity
can serve ("uplifting"); an entry is kept only when its value exists in this catalog.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.titles import pretty_title as pretty_title
from recpilot.data.titles import title_forms as title_forms
from recpilot.tools.context import Catalog
from recpilot.types import ItemId
from recpilot.understanding.lexicon import (
    COMPOUNDS,
    EMOJI,
    GENERIC_WORDS,
    GENRE_WORDS,
    NOT_TOPICS,
    TOPICS,
    phrase_key,
    phrases,
)

#: The attribute the curated genre words map to (MovieLens, most movie and book catalogs).
GENRE_ATTRIBUTE = "genres"
#: The numeric attribute periods ("90s", "after 2010") constrain.
YEAR_ATTRIBUTE = "year"

_ARTICLES = ("the", "a", "an")


@dataclass(frozen=True)
class Sense:
    """What a phrase means in this catalog.

    Attributes:
        values: ``(attribute, value)`` pairs the phrase requires together ("romcom": Romance and Comedy).
        topic: Words for text similarity ("uplifting" -> "uplifting feel good heartwarming ...").
        tag: The ``(attribute, value)`` the phrase names exactly (a user tag such as "time travel"),
            which "no ..." can exclude.
    """

    values: tuple[tuple[str, str], ...] = ()
    topic: str = ""
    tag: tuple[str, str] | None = None


@dataclass
class CatalogVocabulary:
    """Phrases and titles of one catalog, built once by :meth:`from_catalog`.

    Attributes:
        senses: Phrase key -> meaning (attribute values, synonyms, tags, moods).
        titles: Title key (main, alternative and with-year forms) -> internal indices, most popular first.
        title_prefixes: Franchise prefix ("star wars" of "Star Wars: Episode IV") -> internal indices.
        years: The catalog's earliest and latest year, when it has a year attribute.
        noun: What the items are called in replies ("films" or "items").
    """

    senses: dict[str, Sense] = field(default_factory=dict)
    titles: dict[str, list[int]] = field(default_factory=dict)
    title_prefixes: dict[str, list[int]] = field(default_factory=dict)
    years: tuple[int, int] | None = None
    noun: str = "items"
    genres: tuple[str, ...] = ()
    popularity: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    items: list[ItemId] = field(default_factory=list)
    display_titles: list[str] = field(default_factory=list)
    item_years: list[int | None] = field(default_factory=list)
    _value_tokens: dict[str, tuple[str, str, str]] = field(default_factory=dict, repr=False)

    @cached_property
    def phrase_starts(self) -> dict[str, int]:
        """First word of a phrase -> the most words a phrase starting with it has."""
        return first_word_lengths(self.senses)

    @cached_property
    def title_starts(self) -> dict[str, int]:
        """First word of a title key -> the most words a title key starting with it has."""
        return first_word_lengths([*self.titles, *self.title_prefixes])

    @cached_property
    def genre_keys(self) -> frozenset[str]:
        """Phrase keys that name attribute values (they continue a list after a comma)."""
        return frozenset(k for k, s in self.senses.items() if s.values)

    @cached_property
    def typo_targets(self) -> list[str]:
        """Single-word genre keys a misspelt word may stand for."""
        return sorted(k for k in self.genre_keys if " " not in k and len(k) >= 4 and k.isascii())

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> CatalogVocabulary:
        """Read genres, tags, titles and years from ``catalog`` and add the curated words that apply."""
        store = catalog.store
        attributes = store.attributes()
        vocabulary = cls()
        if GENRE_ATTRIBUTE in attributes:
            present = {str(v).lower(): str(v) for v in store.vocabulary(GENRE_ATTRIBUTE)}
            vocabulary.genres = tuple(present.values())
            vocabulary._add_genres(present)
        for name, info in attributes.items():
            if name != GENRE_ATTRIBUTE and info.value_type == "str" and info.multivalued:
                vocabulary._add_topics(name, (str(v) for v in store.vocabulary(name)))
        for phrase, expansion in TOPICS.items():
            known = vocabulary.senses.get(phrase)
            if known is None or not known.values:
                tag = vocabulary._value_tokens.get(phrase)
                topic = " ".join(vocabulary._describe(p) for p in phrases(expansion))
                vocabulary.senses[phrase] = Sense(topic=topic, tag=tag[1:] if tag else None)
        vocabulary.popularity = np.asarray(catalog.popularity, dtype=np.float64)
        vocabulary._add_titles(catalog)
        frame = catalog.dataset.catalog
        if YEAR_ATTRIBUTE in frame.columns:
            years = frame[YEAR_ATTRIBUTE].dropna()
            if len(years):
                vocabulary.years = (int(years.min()), int(years.max()))
        if "movielens" in catalog.name.lower() or catalog.name.lower().startswith("ml-"):
            vocabulary.noun = "films"
        return vocabulary

    def _add_genres(self, present: dict[str, str]) -> None:
        for value in present.values():
            key = phrase_key(value)
            self.senses[key] = Sense(values=((GENRE_ATTRIBUTE, value),))
            self.senses.setdefault(key + "s", self.senses[key])
        for genre, words in GENRE_WORDS.items():
            canonical = present.get(genre.lower())
            if canonical is not None:
                for word in words:
                    self.senses[phrase_key(word)] = Sense(values=((GENRE_ATTRIBUTE, canonical),))
        for phrase, (genres, topic) in COMPOUNDS.items():
            values = tuple((GENRE_ATTRIBUTE, present[g.lower()]) for g in genres if g.lower() in present)
            if values or topic:
                self.senses[phrase_key(phrase)] = Sense(values=values, topic=topic)
        for symbol, genre in EMOJI.items():
            if genre.lower() in present:
                self.senses[symbol] = Sense(values=((GENRE_ATTRIBUTE, present[genre.lower()]),))

    def _add_topics(self, attribute: str, values: Iterable[str]) -> None:
        for value in values:
            key = phrase_key(value)
            usable = (
                key and key not in NOT_TOPICS and len(key.split()) <= 4 and not any(c.isdigit() for c in key)
            )
            if not usable or key in self.senses:
                continue
            self._value_tokens[key] = (f"{_slug(attribute)}:{_slug(value)}", attribute, value)
            self.senses[key] = Sense(topic=self._describe(key), tag=(attribute, value))

    def _describe(self, phrase: str) -> str:
        """Text-match words for a phrase: its telling words, plus its attribute token when it is a value.

        The content model indexes attribute values as single tokens ("tags:time_travel"), so naming
        the token makes items carrying that exact tag match far better than items sharing a word.
        """
        words = [w for w in phrase.split() if w not in GENERIC_WORDS]
        known = self._value_tokens.get(phrase)
        return " ".join([*words, known[0]] if known else words)

    def _add_titles(self, catalog: Catalog) -> None:
        frame = catalog.dataset.catalog
        popularity = np.asarray(catalog.popularity)
        order = np.argsort(-popularity, kind="stable")
        titles = frame[Columns.TITLE].astype(str).to_numpy()
        raw_years = (
            frame[YEAR_ATTRIBUTE] if YEAR_ATTRIBUTE in frame.columns else pd.Series([None] * len(frame))
        )
        self.item_years = [None if pd.isna(y) else int(y) for y in raw_years]
        self.items = list(catalog.dataset.items.to_external(np.arange(len(frame))).tolist())
        self.display_titles = titles.tolist()
        for index in order.tolist():
            year = self.item_years[index]
            year_text = str(year) if year is not None else ""
            main, alternatives, prefix = title_forms(titles[index])
            for form in (main, *alternatives):
                for key in _with_and_without_article(form):
                    self.titles.setdefault(key, []).append(index)
                    if year_text:
                        self.titles.setdefault(f"{key} {year_text}", []).append(index)
            if prefix:
                for key in _with_and_without_article(prefix):
                    self.title_prefixes.setdefault(key, []).append(index)

    def sense(self, key: str) -> Sense | None:
        """The meaning of a phrase key, if the catalog knows it."""
        return self.senses.get(key)

    def find_title(self, words: Sequence[str]) -> list[int]:
        """Internal indices whose title (or alternative title, or franchise prefix) is exactly ``words``.

        A franchise ("lord of the rings") beats an exact title when the franchise's best-known entry is
        far more popular: people mean the trilogy, not the 1978 cartoon.
        """
        key = " ".join(words)
        exact = self.titles.get(key, [])
        franchise = self.title_prefixes.get(key, [])
        if exact and franchise and self.popularity[franchise[0]] > 2 * self.popularity[exact[0]]:
            return [*franchise, *exact]
        return exact or franchise

    def find_display_title(self, title: str) -> int | None:
        """The internal index of an item by its exact display title ("Toy Story (1995)")."""
        return self._display_index.get(title)

    @cached_property
    def _display_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for position, title in enumerate(self.display_titles):
            index.setdefault(title, position)
        return index

    def close_titles(self, key: str, limit: int = 1) -> list[int]:
        """Internal indices of titles spelled almost like ``key`` (typos: "toy storey")."""
        bucket = self._title_buckets.get(key[:2], [])
        close = difflib.get_close_matches(key, bucket, n=limit, cutoff=0.85)
        return [self.titles[c][0] for c in close]

    @cached_property
    def _title_buckets(self) -> dict[str, list[str]]:
        buckets: dict[str, list[str]] = {}
        for key in self.titles:
            buckets.setdefault(key[:2], []).append(key)
        return buckets


def first_word_lengths(keys: Iterable[str]) -> dict[str, int]:
    """First word of each phrase -> the most words a phrase starting with it has (bounds lookups)."""
    starts: dict[str, int] = {}
    for key in keys:
        words = key.split()
        if words:
            starts[words[0]] = max(starts.get(words[0], 0), len(words))
    return starts


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text.strip().lower()).strip("_")


def _with_and_without_article(text: str) -> list[str]:
    key = phrase_key(text)
    if not key:
        return []
    first, _, rest = key.partition(" ")
    return [key, rest] if first in _ARTICLES and rest else [key]
