"""Evidence-based reasons for each recommended item, worded as a person would say them.

Each :class:`~recpilot.types.Reason` carries its evidence (the attribute matched, the history item,
the ranking model) and a short plain-language clause ("it's a comedy, as you asked"). The same
clauses are the web page's card text and, joined by :func:`why_sentence`, the answer to "why that
one?", so a reason is worded once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from recpilot.agent.types import HardConstraints, ItemId, Reason
from recpilot.tools.context import ToolContext, as_list

_ARTICLE_LAST = re.compile(r"^(?P<body>.+), (?P<article>The|A|An)(?P<year> \(\d{4}\))?$")
_MODEL_WORDS = {
    "collaborative": "people with tastes like yours rated it highly",
    "sequential": "it fits what you watched most recently",
    "content": "its story and style match what you asked for",
    "popularity": "it is one of the most watched titles here",
    "top_rated": "it is one of the best rated titles here",
}
_GENRE_WORDS = {
    "Sci-Fi": "science fiction",
    "Children": "a family film",
    "Film-Noir": "film noir",
    "IMAX": "an IMAX release",
    "Animation": "animated",
}


def explain(
    ctx: ToolContext, item: ItemId, constraints: HardConstraints, *, ranked_by: str | None = None
) -> list[Reason]:
    """Reasons for one grounded item, each tied to evidence.

    Args:
        ctx: The turn's context (catalog, models, candidate set with per-item reasons, the user).
        item: The item.
        constraints: The hard constraints the item was checked against.
        ranked_by: The ranking model's role; defaults to the candidate set's.
    """
    catalog = ctx.catalog
    row = catalog.row(item)
    reasons: list[Reason] = []
    for name, accepted in constraints.attributes.items():
        have = [v for v in as_list(row.get(name)) if str(v).lower() in {a.lower() for a in accepted}]
        if have:
            reasons.append(
                Reason(
                    kind="constraint",
                    text=f"it's {_values_in_words(name, have)}, as you asked",
                    evidence={"attribute": name, "values": have},
                )
            )
    for name, rng in constraints.numeric.items():
        value = row.get(name)
        if value is not None:
            reasons.append(
                Reason(
                    kind="constraint",
                    text=_numeric_in_words(name, value, rng.min, rng.max),
                    evidence={"attribute": name, "value": value},
                )
            )
    for name, rejected in constraints.exclude_attributes.items():
        reasons.append(
            Reason(
                kind="constraint",
                text=f"it has no {_join([_value_word(name, v) for v in rejected], 'or')}, "
                "which you ruled out",
                evidence={"attribute": name, "excluded": rejected},
            )
        )
    reasons.extend(_in_words(r) for r in ctx.candidates.reasons.get(item, [])[:1])
    anchor = _closest_history_item(ctx, item)
    if anchor is not None:
        reasons.append(
            Reason(
                kind="history",
                text=f"people who liked {_as_said(catalog.title(anchor))}, as you did, liked it too",
                evidence={"item_id": anchor},
            )
        )
    role = ranked_by or ctx.candidates.ranked_by
    if role:
        model = ctx.models.get(role)
        evidence: dict[str, Any] = {"model": model.name if model is not None else role, "role": role}
        if role == "top_rated":
            evidence["rating_score"] = round(float(catalog.rating_score[catalog.index(item)]), 2)
        reasons.append(
            Reason(kind="model", text=_MODEL_WORDS.get(role, f"ranked by {role}"), evidence=evidence)
        )
    return reasons


def _in_words(reason: Reason) -> Reason:
    """A tool's reason ("similar to Heat (1995)") as a clause of the same voice as the others."""
    if reason.kind == "similar_to" and reason.text.startswith("similar to "):
        return reason.model_copy(update={"text": f"it's {reason.text}, which you mentioned"})
    if reason.kind == "text_match" and reason.text.startswith("matches "):
        return reason.model_copy(update={"text": f"it {reason.text}"})
    return reason


def why_sentence(title: str, reasons: Sequence[Reason]) -> str:
    """The reasons as one sentence: "I suggested Heat (1995) because it's a crime film, as you asked,
    and people with tastes like yours rated it highly." """
    clauses = list(dict.fromkeys(r.text.rstrip(".") for r in reasons if r.text))
    if not clauses:
        return f"I have no particular evidence for {title}: it came from the general ranking."
    return f"I suggested {title} because {_join(clauses, 'and')}."


def _values_in_words(name: str, values: Sequence[Any]) -> str:
    words = [_value_word(name, v) for v in values]
    if name == "genres":
        first = words[0]
        article = "" if first.startswith(("a ", "an ", "animated", "science", "film")) else "a "
        return article + _join(words, "and")
    return _join(words, "and")


def _value_word(name: str, value: Any) -> str:
    if name == "genres":
        return _GENRE_WORDS.get(str(value), str(value).lower())
    return str(value)


def _numeric_in_words(name: str, value: Any, low: float | None, high: float | None) -> str:
    asked = (
        f"{_fmt(low)}–{_fmt(high)}"
        if low is not None and high is not None
        else (f"from {_fmt(low)} on" if low is not None else f"up to {_fmt(high)}")
    )
    if name == "year":
        return f"it came out in {_fmt(value)}, within the years you asked for ({asked})"
    return f"its {name} is {_fmt(value)}, within what you asked for ({asked})"


def _closest_history_item(ctx: ToolContext, item: ItemId) -> ItemId | None:
    """The history item most similar to ``item`` under the collaborative model (if the user has history)."""
    model = ctx.models.get("collaborative")
    if model is None:
        return None
    history: list[ItemId] = list(ctx.liked_items())
    if ctx.dataset_user is not None:
        data = ctx.catalog.dataset
        sequence = data.user_sequence(data.users.index_of(ctx.dataset_user))[-200:]
        ratings = data.matrix("rating")[data.users.index_of(ctx.dataset_user)]
        liked = set(ratings.indices[ratings.data >= np.median(ratings.data)]) if ratings.nnz else set()
        history.extend(data.items.to_external([i for i in sequence if i in liked]).tolist())
    history = [h for h in dict.fromkeys(history) if str(h) != str(item)]
    if not history:
        return None
    scores = model.score(history, history=[item])
    best = int(np.argmax(scores))
    return history[best] if np.isfinite(scores[best]) and scores[best] > 0 else None


def _as_said(title: str) -> str:
    """ "Fugitive, The (1993)" -> "The Fugitive (1993)": the catalog's sorting form as people say it."""
    moved = _ARTICLE_LAST.match(title)
    return f"{moved['article']} {moved['body']}{moved['year'] or ''}" if moved else title


def _join(values: Sequence[str], word: str) -> str:
    values = list(values)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + f" {word} " + values[-1]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"
