"""Answers about one item ("is it violent?", "how old is the first one?") and comparisons of two.

Every answer comes from the catalog row (year, genres, viewers' tags) and the ratings; when the
catalog does not know something (running time, cast) the answer says so instead of guessing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from recpilot.data.columns import Columns
from recpilot.tools.context import ToolContext, as_list
from recpilot.understanding.vocabulary import pretty_title

# A question about a quality -> (genres that suggest it, tag words that show it, the quality in words).
_QUALITIES: dict[str, tuple[frozenset[str], tuple[str, ...], str]] = {
    "violent": (
        frozenset({"Action", "War", "Horror", "Crime"}),
        ("violen", "gore", "gory", "brutal", "blood"),
        "violent",
    ),
    "scary": (
        frozenset({"Horror"}),
        ("scary", "creepy", "horror", "disturbing", "frighten", "terrify"),
        "scary",
    ),
    "funny": (frozenset({"Comedy"}), ("funny", "hilarious", "comedy", "humor", "humour", "witty"), "funny"),
    "sad": (frozenset({"War"}), ("sad", "depress", "tearjerker", "emotional", "bleak", "heartbreak"), "sad"),
    "dark": (frozenset({"Film-Noir", "Horror"}), ("dark", "bleak", "grim", "disturbing", "noir"), "dark"),
    "romantic": (frozenset({"Romance"}), ("romance", "romantic", "love"), "romantic"),
    "family": (
        frozenset({"Children", "Animation"}),
        ("family", "kids", "children", "disney", "pixar"),
        "suitable for children",
    ),
}
_QUALITY_WORDS = {
    "violent": "violent", "violence": "violent", "gory": "violent", "bloody": "violent", "brutal": "violent",
    "scary": "scary", "frightening": "scary", "creepy": "scary", "horror": "scary", "spooky": "scary",
    "funny": "funny", "comedy": "funny", "humorous": "funny", "hilarious": "funny", "laugh": "funny",
    "sad": "sad", "depressing": "sad", "tearjerker": "sad", "emotional": "sad", "dark": "dark",
    "grim": "dark", "bleak": "dark", "romantic": "romantic", "romance": "romantic", "kids": "family",
    "children": "family", "family": "family", "child": "family", "kid": "family",
}  # fmt: skip
_AGE = re.compile(
    r"\b(?:how old|what year|which year|when (?:was|did|is)|released|come out|came out|year|new|recent|old)\b"
)
_LENGTH = re.compile(r"\b(?:how long|long|short|length|runtime|running time|minutes|hours?)\b")
_PEOPLE = re.compile(r"\b(?:who|whos|director|directed|cast|actors?|actress|stars?|starring|in it)\b")
_GOOD = re.compile(r"\b(?:good|any good|worth|rated|rating|score|popular|liked|well received|reviews?)\b")
_GENRE = re.compile(r"\b(?:genre|what kind|what sort|what type)\b")


def rating_of(ctx: ToolContext, item_id: Any) -> tuple[float, int]:
    """The item's average rating and how many rated it (0, 0 when nobody did)."""
    catalog = ctx.catalog
    table = catalog.dataset.interactions
    index = catalog.index(item_id)
    ratings = table[Columns.RATING].to_numpy()[table[Columns.ITEM_IDX].to_numpy() == index]
    return (float(ratings.mean()), len(ratings)) if len(ratings) else (0.0, 0)


def answer_question(text: str, row: dict[str, Any], rating: tuple[float, int]) -> str:
    """The answer to a question about one item, then its facts in a sentence."""
    title = pretty_title(str(row.get("title", "")))
    genres = [str(g) for g in as_list(row.get("genres"))]
    tags = [str(t) for t in as_list(row.get("tags"))]
    year = row.get("year")
    specific = ""
    words = set(re.findall(r"[a-z]+", text))
    quality = next((_QUALITY_WORDS[w] for w in words if w in _QUALITY_WORDS), None)
    if quality is not None:
        specific = _quality_answer(title, quality, genres, tags)
    elif _LENGTH.search(text):
        specific = f"The catalog doesn't list running times, so I can't say how long {title} is."
    elif _AGE.search(text) and year:
        age = datetime.now(UTC).year - int(year)
        specific = f"{title} came out in {int(year)}, {age} years ago."
    elif _PEOPLE.search(text):
        specific = f"The catalog has no cast or crew list for {title}, only what viewers tag it with."
    elif _GOOD.search(text):
        average, raters = rating
        if raters:
            verdict = "well liked" if average >= 3.8 else "liked by most" if average >= 3.3 else "divisive"
            people = "person" if raters == 1 else "people"
            specific = f"{title} is {verdict}: {raters} {people} rated it {average:.1f}/5 on average."
        else:
            specific = f"Nobody has rated {title} here yet."
    elif _GENRE.search(text):
        specific = f"{title} is {_genre_words(genres)}."
    return " ".join(s for s in (specific, facts(row, rating)) if s)


def facts(row: dict[str, Any], rating: tuple[float, int]) -> str:
    """One sentence of catalog facts: year, genres, tags, average rating."""
    title = pretty_title(str(row.get("title", "")))
    genres = [str(g) for g in as_list(row.get("genres"))]
    tags = [str(t) for t in as_list(row.get("tags"))]
    year = row.get("year")
    sentence = f"{title}: {'a ' + str(int(year)) + ' ' if year else 'a '}{_genre_noun(genres)}"
    if tags:
        sentence += f"; viewers describe it as {', '.join(tags[:5])}"
    average, raters = rating
    if raters:
        sentence += f"; rated {average:.1f}/5 by {raters} {'person' if raters == 1 else 'people'}"
    return sentence + "."


def compare_reply(ctx: ToolContext, items: list[Any]) -> tuple[str, Any]:
    """Two items side by side and which to watch: the user's taste model when it knows them,
    otherwise the better rated one. Returns the reply and the pick."""
    catalog = ctx.catalog
    rows = [catalog.row(i) for i in items]
    ratings = [rating_of(ctx, i) for i in items]
    lines = [facts(row, rating) for row, rating in zip(rows, ratings, strict=True)]
    titles = [pretty_title(catalog.title(i)) for i in items]
    personal = _taste_scores(ctx, items)
    if personal is not None and personal[0] != personal[1]:
        best = 0 if personal[0] > personal[1] else 1
        why = "it is closer to what you've liked"
    else:
        score = [_bayesian(avg, n) for avg, n in ratings]
        best = 0 if score[0] >= score[1] else 1
        why = "viewers rate it higher" if ratings[best][1] else "it is better known"
    shared = set(map(str, as_list(rows[0].get("genres")))) & set(map(str, as_list(rows[1].get("genres"))))
    both = f" Both are {_genre_words(sorted(shared))}." if shared else ""
    reply = f"{' '.join(lines)}{both} I'd pick {titles[best]}: {why}."
    return reply, items[best]


def _taste_scores(ctx: ToolContext, items: list[Any]) -> list[float] | None:
    model = ctx.models.get("collaborative")
    history = ctx.liked_items()
    if model is None or (ctx.dataset_user is None and not history):
        return None
    if ctx.dataset_user is not None:
        data = ctx.catalog.dataset
        history = [
            *history,
            *data.items.to_external(
                data.user_sequence(data.users.index_of(ctx.dataset_user))[-200:]
            ).tolist(),
        ]
    scores = model.score(items, history=history)
    values = [float(s) for s in scores]
    return values if all(v == v for v in values) else None


def _bayesian(average: float, raters: int, prior: float = 3.5, weight: int = 10) -> float:
    return (average * raters + prior * weight) / (raters + weight)


def _quality_answer(title: str, quality: str, genres: list[str], tags: list[str]) -> str:
    suggestive, tag_words, label = _QUALITIES[quality]
    tagged = [t for t in tags if any(w in t.lower() for w in tag_words)]
    genre_hits = [g for g in genres if g in suggestive]
    if tagged:
        return f"Yes, {title} is {label}: viewers tag it “{'”, “'.join(tagged[:3])}”."
    if genre_hits:
        genre = _genre_words(genre_hits)
        return f"Probably somewhat {label}: {title} is {genre}, though viewers don't tag it as {label}."
    return f"Not really: {title} is {_genre_words(genres)}, and viewers don't describe it as {label}."


def _genre_words(genres: list[str]) -> str:
    if not genres:
        return "not classified by genre"
    names = [g.lower() if g not in ("Sci-Fi", "IMAX", "Film-Noir") else g for g in genres]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{'an' if listed[0] in 'aeiou' else 'a'} {listed} title"


def _genre_noun(genres: list[str]) -> str:
    if not genres:
        return "title"
    names = [g.lower() if g not in ("Sci-Fi", "IMAX", "Film-Noir") else g for g in genres[:4]]
    return "/".join(names) + " title"
