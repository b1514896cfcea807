"""Template replies of the offline brain: what was understood, what was relaxed, what was not found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recpilot.agent.types import NumericRange, RecommendedItem
from recpilot.understanding.vocabulary import GENRE_ATTRIBUTE, pretty_title

_PLURAL = {
    "Comedy": "comedies",
    "Drama": "dramas",
    "Thriller": "thrillers",
    "Western": "westerns",
    "Musical": "musicals",
    "Documentary": "documentaries",
    "Mystery": "mysteries",
    "Romance": "romances",
    "Horror": "horror films",
    "Action": "action films",
    "Adventure": "adventure films",
    "Animation": "animated films",
    "Children": "family films",
    "Crime": "crime films",
    "Fantasy": "fantasy films",
    "Film-Noir": "films noir",
    "IMAX": "IMAX films",
    "Sci-Fi": "sci-fi films",
    "War": "war films",
}
_ADJECTIVE = {
    "Romance": "romantic",
    "Animation": "animated",
    "Children": "family",
    "Sci-Fi": "sci-fi",
    "Comedy": "comic",
    "Drama": "dramatic",
    "Horror": "horror",
    "Action": "action",
    "Adventure": "adventure",
    "Crime": "crime",
    "Fantasy": "fantasy",
    "Film-Noir": "noir",
    "IMAX": "IMAX",
    "Mystery": "mystery",
    "Thriller": "thriller",
    "War": "war",
    "Western": "western",
    "Musical": "musical",
    "Documentary": "documentary",
}
# Which genre names the thing in a combination: "romantic comedies", "sci-fi horror films".
_HEADS = ("Comedy", "Drama", "Thriller", "Western", "Musical", "Documentary", "Mystery", "Horror", "Romance")
_RANKED_BY = {
    "top_rated": "ranked by average rating",
    "popularity": "ranked by popularity",
    "sequential": "ranked by what you watched most recently",
    "content": "ranked by content similarity",
}

CHITCHAT_REPLY = (
    'Hi! I recommend films from the catalog. Tell me what you\'re in the mood for: a genre ("a 90s comedy"), '
    'a title you liked ("something like Heat but newer"), what to avoid ("no horror"), or ask me about a '
    'film ("tell me about The Matrix").'
)
REFUSALS = {
    "instructions": (
        "I can't change how I work or share my instructions, but I'm glad to recommend films: tell me a "
        "genre, a period or a title you liked."
    ),
    "code": (
        "That looks like code or a database command, which I don't run. Tell me in words what you'd like to "
        'watch, for example "a thriller from the 90s".'
    ),
}


@dataclass
class Outcome:
    """What a recommendation turn did, for the reply.

    Attributes:
        groups: Genre (value) groups every item matches; alternatives inside a group.
        excluded: Excluded ``(attribute, value)`` pairs.
        year: The year range applied.
        period: The user's own words for the period ("older than Heat (1995)").
        similar_to: Titles the items are similar to.
        topics: Topics or moods matched by text.
        model: The ranking model.
        personalised: The user has a history the ranking used.
        seen_filtered: Items the user has seen were left out.
        blended: Similarity or text scores were blended into the ranking.
        count: How many items the user asked for.
        notes: Sentences about what was remembered, relaxed, not found or not applied.
        suggestion: When nothing was found: which constraint to drop.
        noun: What the items are called.
    """

    groups: list[list[str]] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    year: NumericRange | None = None
    period: str | None = None
    similar_to: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    model: str = "collaborative"
    personalised: bool = False
    seen_filtered: bool = False
    blended: bool = False
    count: int | None = None
    notes: list[str] = field(default_factory=list)
    suggestion: str = ""
    noun: str = "films"

    def subject(self) -> str:
        """The items asked for in words: "romantic comedies from 2000–2009 without Horror"."""
        parts = [_genre_phrase(self.groups, self.noun)]
        if self.similar_to:
            parts.append("similar to " + _join(self.similar_to, "and"))
        if self.topics:
            parts.append("matching “" + ", ".join(self.topics) + "”")
        period = self.period or year_phrase(self.year)
        if period:
            parts.append(period)
        genres = [genre_label(v) for a, v in self.excluded if a == GENRE_ATTRIBUTE]
        others = [f"“{v}”" for a, v in self.excluded if a != GENRE_ATTRIBUTE]
        if genres:
            parts.append("without " + _join(genres, "or"))
        if others:
            parts.append(("and " if genres else "") + "without anything tagged " + _join(others, "or"))
        return " ".join(parts)


def recommendation_reply(outcome: Outcome, items: Sequence[RecommendedItem]) -> str:
    """The reply for a recommendation turn: a header saying what was understood, the items, the notes."""
    notes = " ".join(outcome.notes)
    if not items:
        text = f"I couldn't find any {outcome.subject()}."
        return " ".join(t for t in (text, outcome.suggestion, notes) if t)
    count = len(items)
    noun = outcome.subject()
    if count == 1:
        noun = noun.replace(outcome.noun, outcome.noun.rstrip("s"), 1)
    header = f"Here {'is' if count == 1 else 'are'} {count} {noun}{_seen(outcome)}, {_ranking(outcome)}:"
    wanted = outcome.count or 0
    if wanted > count:
        header += f" (only {count} match all of that)"
    lines = [header, *(f"{n}. {_item_line(item)}" for n, item in enumerate(items, 1))]
    if notes:
        lines.append(notes)
    return "\n".join(lines)


def year_phrase(year: NumericRange | None) -> str:
    """A year range in words: "from 1995", "from 1990–1999", "from 2011 on", "before 1980"."""
    if year is None or (year.min is None and year.max is None):
        return ""
    low = int(year.min) if year.min is not None else None
    high = int(year.max) if year.max is not None else None
    if low is not None and high is not None:
        return f"from {low}" if low == high else f"from {low}–{high}"
    if low is not None:
        return f"from {low} on"
    return f"before {high + 1}" if high is not None else ""


def genre_label(value: str) -> str:
    """A genre value as a noun in a sentence: "Musical" -> "musicals", "Sci-Fi" -> "sci-fi films"."""
    return _PLURAL.get(value, value)


def details_reply(
    rows: Sequence[dict[str, Any]], stats: Sequence[tuple[float, int]], missing: Sequence[str]
) -> str:
    """Catalog facts about items: year, genres, tags, average rating and how many rated it."""
    lines = []
    for row, (rating, raters) in zip(rows, stats, strict=True):
        title = pretty_title(str(row.get("title", "")))
        genres = ", ".join(map(str, row.get("genres") or []))
        year = row.get("year")
        kind = f"a {year} title" if year else "a title"
        sentence = f"{title} is {kind}" + (f" ({genres})" if genres else "") + "."
        tags = row.get("tags") or []
        if tags:
            sentence += f" Viewers tag it {', '.join(map(str, tags[:6]))}."
        if raters:
            sentence += (
                f" {raters} {'person' if raters == 1 else 'people'} rated it, {rating:.1f}/5 on average."
            )
        lines.append(sentence)
    if missing:
        lines.append(f"I couldn't find {_join([f'“{m}”' for m in missing], 'or')} in the catalog.")
    return " ".join(lines) or "I couldn't find that title in the catalog."


def profile_reply(
    likes: Sequence[str],
    dislikes: Sequence[str],
    other: Sequence[str],
    history: int,
    favourite_genres: Sequence[str],
) -> str:
    """What the agent knows about a user."""
    parts = []
    if history:
        parts.append(
            f"You have rated {history} titles"
            + (f", mostly {_join(list(favourite_genres), 'and')}." if favourite_genres else ".")
        )
    if likes:
        parts.append(f"You told me you like {_join(list(likes), 'and')}.")
    if dislikes:
        parts.append(f"You don't like {_join(list(dislikes), 'or')}.")
    if other:
        parts.append(f"You also asked me to remember: {'; '.join(other)}.")
    if not parts:
        return (
            "I don't know anything about you yet. Tell me a film you liked, or a genre you enjoy, "
            "and I'll remember it."
        )
    return " ".join(parts) + " Say “forget …” to remove anything."


def _genre_phrase(groups: list[list[str]], noun: str) -> str:
    if not groups:
        return noun
    if len(groups) == 1 and len(groups[0]) > 1:
        return _join([_PLURAL.get(v, f"{v} {noun}") for v in groups[0]], "or")
    singles = [g[0] for g in groups if len(g) == 1]
    alternatives = [g for g in groups if len(g) > 1]
    head = next((h for h in _HEADS if h in singles), singles[-1] if singles else None)
    adjectives = [_ADJECTIVE.get(v, v) for v in singles if v != head]
    phrase = " ".join([*adjectives, _PLURAL.get(head, f"{head} {noun}") if head else noun])
    for group in alternatives:
        phrase += " (" + _join(group, "or") + ")"
    return phrase


def _seen(outcome: Outcome) -> str:
    # A personal model leaves out what the user has seen, but blended similarity scores may not.
    personal = (
        outcome.model in ("collaborative", "sequential") and outcome.personalised and not outcome.blended
    )
    return " you haven't seen" if outcome.seen_filtered or personal else ""


def _ranking(outcome: Outcome) -> str:
    if outcome.model in _RANKED_BY:
        return _RANKED_BY[outcome.model]
    if outcome.personalised:
        return "ranked by people with similar taste"
    return "ranked by popularity, since I don't know your taste yet"


def _item_line(item: RecommendedItem) -> str:
    genres = item.attributes.get("genres") or []
    return f"{item.title} — {', '.join(map(str, genres[:4]))}" if genres else item.title


def _join(values: Sequence[str], word: str) -> str:
    values = list(values)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + f" {word} " + values[-1]
