"""The one explanation vocabulary: each kind of evidence worded once, as a person would say it.

Every :class:`~recpilot.types.Reason` carries its evidence (the attribute matched, the history item,
the ranking model) and a short plain-language clause ("it's a comedy, as you asked"). The agent's
answers and "why?" replies, the web cards, ``/v1/recommend``, MCP and the CLI all show these clauses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recpilot.data.titles import pretty_title
from recpilot.ranking.catalog import as_list
from recpilot.types import HardConstraints, ItemId, Reason, ReasonKind

#: Rankings that need no fitted model: scores straight from the catalog.
CATALOG_RANKINGS = ("popularity", "top_rated")

MODEL_WORDS = {
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


def constraint_reasons(row: Mapping[str, Any], constraints: HardConstraints) -> list[Reason]:
    """The constraints an item's catalog ``row`` satisfies, each as a reason."""
    reasons: list[Reason] = []
    for name, accepted in constraints.attributes.items():
        wanted = {a.lower() for a in accepted}
        have = [v for v in as_list(row.get(name)) if str(v).lower() in wanted]
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
                text=f"it has no {join([_value_word(name, v) for v in rejected], 'or')}, which you ruled out",
                evidence={"attribute": name, "excluded": rejected},
            )
        )
    return reasons


def tool_reason(reason: Reason) -> Reason:
    """A tool's reason ("similar to Heat (1995)") as a clause of the same voice as the others."""
    if reason.kind == "similar_to" and reason.text.startswith("similar to "):
        return reason.model_copy(update={"text": f"it's {reason.text}, which you mentioned"})
    if reason.kind == "text_match" and reason.text.startswith("matches "):
        return reason.model_copy(update={"text": f"it {reason.text}"})
    return reason


def history_reason(anchor: ItemId, title: str) -> Reason:
    """The item of the user's history that the collaborative model finds closest."""
    return Reason(
        kind="history",
        text=f"people who liked {pretty_title(title)}, as you did, liked it too",
        evidence={"item_id": str(anchor)},
    )


def ranking_reason(role: str, model: str, *, cold: bool, rating_score: float | None = None) -> Reason:
    """How the item was ranked: the model's role in words, or popularity for a user without history
    (a personal model ranks such a user's items by popularity)."""
    evidence: dict[str, Any] = {"model": model, "role": role}
    if rating_score is not None:
        evidence["rating_score"] = round(rating_score, 2)
    if cold and role not in CATALOG_RANKINGS:
        return Reason(kind="popularity", text=MODEL_WORDS["popularity"], evidence={**evidence, "cold": True})
    kind: ReasonKind = "popularity" if role == "popularity" else "model"
    return Reason(kind=kind, text=MODEL_WORDS.get(role, f"ranked by {model}"), evidence=evidence)


def why_sentence(title: str, reasons: Sequence[Reason]) -> str:
    """The reasons as one sentence: "I suggested Heat (1995) because it's a crime film, as you asked,
    and people with tastes like yours rated it highly." """
    clauses = list(dict.fromkeys(r.text.rstrip(".") for r in reasons if r.text))
    if not clauses:
        return f"I have no particular evidence for {title}: it came from the general ranking."
    return f"I suggested {title} because {join(clauses, 'and')}."


def explanation(reasons: Sequence[Reason]) -> str:
    """The reasons as one line for a card or a table cell."""
    return "; ".join(r.text for r in reasons)


def join(values: Sequence[str], word: str) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"`` (with ``word`` as the last joiner)."""
    values = list(values)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + f" {word} " + values[-1]


def _values_in_words(name: str, values: Sequence[Any]) -> str:
    words = [_value_word(name, v) for v in values]
    if name == "genres":
        first = words[0]
        article = "" if first.startswith(("a ", "an ", "animated", "science", "film")) else "a "
        return article + join(words, "and")
    return join(words, "and")


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


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"
