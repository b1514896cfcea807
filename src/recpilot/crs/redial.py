"""ReDial dialogues: loading, mapping movies to a catalog, and what the seeker liked, disliked and asked for.

ReDial (Li et al., NeurIPS 2018) pairs a *seeker* with a *recommender*; movies are mentioned as
``@<id>`` and both workers label every mentioned movie (``suggested``, ``seen``, ``liked``). The text
extractor here (:func:`extract_preferences`) reads only the seeker's words: the mentions in their
messages with the sentiment cues around them, their reactions to the recommender's suggestions, and
the constraints they state (genres, periods, topics) through the offline agent's parser. The labels
(:meth:`RedialDialogue.labelled`) are the ground truth it is scored against, never an input.
:mod:`recpilot.crs.redial_eval` holds the evaluation.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recpilot.conversation.leakguard import title_forms
from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import DataError
from recpilot.tools.context import normalise_title
from recpilot.understanding import CatalogVocabulary, parse_request

Sentiment = Literal["liked", "disliked"]
#: A movie mention in a ReDial message (``@123``).
MENTION = re.compile(r"@(\d+)")
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_CLAUSE = re.compile(r"[.!?;\n]+|\bbut\b|\bthough\b|\bhowever\b|\balthough\b", re.IGNORECASE)
_NEGATIVE = re.compile(
    r"\b(hat(e|ed|es)|dislike[ds]?|(did ?n[o']?t|do ?n[o']?t|does ?n[o']?t|never) ?(really )?"
    r"(like|enjoy|care|love)|have ?n[o']?t (really )?(liked|enjoyed|loved)"
    r"|not (a |really a |much of a |the biggest |big )?fan"
    r"|not (really )?(into|for me|my)|(was ?n[o']?t|is ?n[o']?t|was not|is not) "
    r"(that |very |too |really |so )?(good|great|funny|interesting|my)"
    r"|boring|awful|terrible|worst|too (slow|tedious|sad|scary|violent|long|boring|much)|disappoint\w*"
    r"|overrated|(could ?n[o']?t|ca ?n[o']?t|can not) stand|stupid|sucked|not like|but not|not @)",
    re.IGNORECASE,
)
_POSITIVE = re.compile(
    r"\b(lov(e|ed|es|ing)|lik(e|ed|es)|enjoy(ed|s)?|favou?rite|great|awesome|amazing|good|fan of|classic"
    r"|funny|hilarious|best|fantastic|excellent|brilliant|wonderful|similar|sounds? (good|great|fun|"
    r"interesting|awesome)|check (it|that|them|those) out|(will|i'll|gonna|want to) (watch|see)|add)\b",
    re.IGNORECASE,
)
_UNSEEN = re.compile(
    r"\b(have ?n[o']?t (seen|watched)|have not (seen|watched)|never (seen|watched)|not seen)\b"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MovieLabel(_Model):
    """One worker's form about a movie: suggested (0/1), seen and liked (0 no, 1 yes, 2 did not say)."""

    suggested: int
    seen: int
    liked: int


class RedialMessage(_Model):
    """One message of a dialogue."""

    message_id: int
    sender: Literal["seeker", "recommender"]
    text: str
    time_offset: int = 0

    @property
    def mentions(self) -> list[str]:
        """Movie ids mentioned (``@123``), in order, without repeats."""
        return list(dict.fromkeys(MENTION.findall(self.text)))


class RedialDialogue(_Model):
    """One ReDial conversation.

    Attributes:
        conversation_id: The dialogue's id.
        messages: Messages in order.
        movies: Movie id -> name (``"Super Troopers (2001)"``) for every mention.
        seeker_labels: The seeker's forms (``initiatorQuestions``).
        recommender_labels: The recommender's forms (``respondentQuestions``).
    """

    conversation_id: str
    messages: list[RedialMessage]
    movies: dict[str, str] = Field(default_factory=dict)
    seeker_labels: dict[str, MovieLabel] = Field(default_factory=dict)
    recommender_labels: dict[str, MovieLabel] = Field(default_factory=dict)

    def label(self, movie: str) -> MovieLabel | None:
        """The agreed label of a movie: both forms when they agree on liked, else the only one given.

        None when there is no form or the two disagree about whether the seeker liked it.
        """
        mine, theirs = self.seeker_labels.get(movie), self.recommender_labels.get(movie)
        if mine is not None and theirs is not None:
            return mine if mine.liked == theirs.liked else None
        return mine or theirs

    def labelled(self, sentiment: Sentiment) -> set[str]:
        """Movies whose agreed label says the seeker liked (or disliked) them."""
        wanted = 1 if sentiment == "liked" else 0
        return {m for m in self.movies if (lab := self.label(m)) is not None and lab.liked == wanted}

    def seeker_mentions(self, upto: int | None = None) -> list[str]:
        """Movies the seeker mentioned in messages before index ``upto`` (all when None)."""
        found = [m for msg in self.messages[:upto] if msg.sender == "seeker" for m in msg.mentions]
        return list(dict.fromkeys(found))

    def render(self, text: str) -> str:
        """``text`` with each ``@id`` replaced by the movie's name."""
        return MENTION.sub(lambda m: self.movies.get(m.group(1), m.group(0)), text)


def load_redial(path: str | Path, *, limit: int | None = None) -> list[RedialDialogue]:
    """Read a ReDial JSON-lines file (``test_data.jsonl``).

    Raises:
        DataError: The file is missing or a line is not a ReDial dialogue (names the line).
    """
    file = Path(path)
    if not file.is_file():
        raise DataError("the ReDial dialogues file does not exist", path=file)
    dialogues: list[RedialDialogue] = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                dialogues.append(_dialogue(json.loads(line)))
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                problem = f"not a ReDial dialogue: {str(exc).splitlines()[0]}"
                raise DataError(problem, path=file, line=number) from None
            if limit is not None and len(dialogues) >= limit:
                break
    return dialogues


def _dialogue(raw: Mapping[str, object]) -> RedialDialogue:
    seeker = raw["initiatorWorkerId"]

    def labels(value: object) -> dict[str, MovieLabel]:
        # Dialogues without forms carry an empty list instead of an empty object.
        return (
            {str(k): MovieLabel.model_validate(v) for k, v in value.items()}
            if isinstance(value, dict)
            else {}
        )

    messages = [
        RedialMessage(
            message_id=int(m["messageId"]),
            sender="seeker" if m["senderWorkerId"] == seeker else "recommender",
            text=str(m["text"]),
            time_offset=int(m.get("timeOffset", 0)),
        )
        for m in raw["messages"]  # type: ignore[attr-defined]
    ]
    movies = raw.get("movieMentions")
    return RedialDialogue(
        conversation_id=str(raw["conversationId"]),
        messages=messages,
        movies={str(k): str(v) for k, v in movies.items()} if isinstance(movies, dict) else {},
        seeker_labels=labels(raw.get("initiatorQuestions")),
        recommender_labels=labels(raw.get("respondentQuestions")),
    )


def load_movie_names(path: str | Path) -> dict[str, tuple[str, int]]:
    """``movies_with_mentions.csv``: movie id -> (name, number of mentions).

    Raises:
        DataError: The file is missing or lacks the ``movieId``/``movieName`` columns.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError("the ReDial movie list does not exist", path=file)
    with file.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"movieId", "movieName"} <= set(reader.fieldnames or ()):
            raise DataError("expected the columns movieId, movieName, nbMentions", path=file, line=1)
        return {row["movieId"]: (row["movieName"], int(row.get("nbMentions") or 0)) for row in reader}


class MovieMatcher:
    """Maps movie names ("The Matrix (1999)") to catalog items by normalised title and year.

    A name matches an item with the same normalised title (main or alternate form) and the same year,
    or a year one off (release and festival years differ). Failing that, an item of the same year
    whose title adds a subtitle to the name ("Jumanji (2017)" is "Jumanji: Welcome to the Jungle") or
    nearly equals it (``fuzzy`` similarity: "Kill Bill: Volume 1" and "Kill Bill: Vol. 1") matches
    when it is the only best one. A name without a year matches only a title no other item shares.

    Args:
        dataset: The dataset whose catalog names are mapped into.
        fuzzy: The ``difflib`` similarity from which two titles of the same year are the same film.
    """

    def __init__(self, dataset: Dataset, *, fuzzy: float = 0.85) -> None:
        frame = dataset.catalog
        self.fuzzy = fuzzy
        self._by_title: dict[str, list[tuple[object, int | None]]] = {}
        self._by_year: dict[int, list[tuple[str, str, object]]] = {}
        years = frame["year"] if "year" in frame.columns else [None] * len(frame)
        ids = dataset.items.external_ids
        for item, title, year in zip(ids, frame[Columns.TITLE].astype(str), years, strict=True):
            known = None if year is None or pd.isna(year) else int(year)
            series = normalise_title(re.split(r":| - ", title, maxsplit=1)[0])  # "Jumanji: Welcome..."
            for form in title_forms(title):
                self._by_title.setdefault(form, []).append((item, known))
                if known is not None:
                    self._by_year.setdefault(known, []).append((form, series, item))

    def match(self, name: str) -> object | None:
        """The catalog id for a movie name, or None."""
        text = " ".join(unquote(name).split())
        found = _YEAR.search(text)
        year = int(found.group(1)) if found else None
        key = title_forms(text)[0] if title_forms(text) else ""
        candidates = self._by_title.get(key, [])
        if year is None:
            return candidates[0][0] if len({c[0] for c in candidates}) == 1 else None
        for tolerance in (0, 1):
            close = [
                item for item, known in candidates if known is not None and abs(known - year) <= tolerance
            ]
            if close:
                return close[0]
        return self._near(key, year)

    def _near(self, key: str, year: int) -> object | None:
        if not key:
            return None
        scored: dict[object, float] = {}
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(key)  # difflib caches what it learns about the second sequence
        for form, series, item in self._by_year.get(year, []):
            matcher.set_seq1(form)
            if series == key:
                score = 1.0
            elif matcher.real_quick_ratio() >= self.fuzzy and matcher.quick_ratio() >= self.fuzzy:
                score = matcher.ratio()
            else:
                continue
            scored[item] = max(score, scored.get(item, 0.0))
        best = sorted(scored.items(), key=lambda kv: -kv[1])[:2]
        if not best or best[0][1] < self.fuzzy or (len(best) > 1 and best[1][1] == best[0][1]):
            return None
        return best[0][0]

    def map_all(self, names: Mapping[str, str]) -> dict[str, object]:
        """ReDial id -> catalog id for every name that matches."""
        return {key: item for key, name in names.items() if (item := self.match(name)) is not None}


class ExtractedPreferences(_Model):
    """What the seeker's words say, up to some point of the dialogue.

    Attributes:
        liked: ReDial movie ids the seeker liked (or accepted), in order of mention.
        disliked: ReDial movie ids the seeker disliked.
        genres: Genres the seeker asked for (catalog values).
        excluded_genres: Genres the seeker ruled out.
        years: The year range the seeker asked for, when any.
        topics: Topics and moods the seeker named.
    """

    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    genres: list[str] = Field(default_factory=list)
    excluded_genres: list[str] = Field(default_factory=list)
    years: tuple[float | None, float | None] | None = None
    topics: list[str] = Field(default_factory=list)


def classify(clause: str) -> Sentiment | None:
    """The sentiment of a clause about a movie: negative cues win, unseen-only clauses say nothing."""
    if _NEGATIVE.search(clause):
        return "disliked"
    if _POSITIVE.search(clause):
        return "liked"
    if _UNSEEN.search(clause.lower()):
        return None
    return "liked"  # seekers mostly name films they like ("I'm looking for something like @123")


def extract_preferences(
    dialogue: RedialDialogue, vocabulary: CatalogVocabulary | None = None, *, upto: int | None = None
) -> ExtractedPreferences:
    """Read the seeker's messages before index ``upto`` (all when None); the labels are never read.

    A movie the seeker mentions takes the sentiment of its clause (:func:`classify`); a seeker message
    without mentions that reacts with a clear cue ("loved it", "not a fan") applies to the movies the
    recommender just suggested. Constraints come from the offline parser when ``vocabulary`` is given.
    """
    verdicts: dict[str, Sentiment] = {}
    suggested: list[str] = []
    result = ExtractedPreferences()
    for message in dialogue.messages[:upto]:
        if message.sender == "recommender":
            suggested = message.mentions or suggested
            continue
        mentions = message.mentions
        for clause in _CLAUSE.split(message.text):
            named = MENTION.findall(clause)
            sentiment = classify(clause) if named else None
            for movie in named:
                if sentiment is not None:
                    verdicts[movie] = sentiment
        if not mentions and suggested and (_NEGATIVE.search(message.text) or _POSITIVE.search(message.text)):
            reaction: Sentiment = "disliked" if _NEGATIVE.search(message.text) else "liked"
            for movie in suggested:
                verdicts.setdefault(movie, reaction)
        if mentions:
            suggested = []
        if vocabulary is not None:
            _constraints(MENTION.sub(" ", message.text), vocabulary, result)
    result.liked = [m for m, s in verdicts.items() if s == "liked"]
    result.disliked = [m for m, s in verdicts.items() if s == "disliked"]
    return result


def _constraints(text: str, vocabulary: CatalogVocabulary, into: ExtractedPreferences) -> None:
    parsed = parse_request(text, vocabulary)
    constraints = parsed.constraints
    for values in constraints.attributes.values():
        into.genres.extend(v for v in values if v not in into.genres)
    for values in constraints.exclude_attributes.values():
        into.excluded_genres.extend(v for v in values if v not in into.excluded_genres)
    for group in parsed.also_required:
        into.genres.extend(v for v in group.values if v not in into.genres)
    year = constraints.numeric.get("year")
    if year is not None:
        into.years = (year.min, year.max)
    into.topics.extend(t for t in parsed.topics if t not in into.topics)


def scores(predicted: Iterable[str], truth: Iterable[str]) -> tuple[int, int, int]:
    """(true positives, predicted, relevant) for one dialogue, to micro-average over many."""
    guess, gold = set(predicted), set(truth)
    return len(guess & gold), len(guess), len(gold)
