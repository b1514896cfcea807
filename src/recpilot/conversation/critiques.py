"""Critiques of what was shown, and their reflection on the next ranking.

"not this one" / "not the first", "less violent", "more like the second one", "something
older/newer/shorter/cheaper/less popular", "something else" are read by :func:`parse_critique` against
the list shown last. :func:`apply_critique` writes the critique into the :class:`DialogueState` and
changes the *estimate*, not only a filter (EAR's reflection):

- a rejected item is excluded and becomes a negative anchor: items similar to it (content model, or
  the collaborative model without one) lose score in proportion to their similarity;
- "more like X" makes X a positive anchor, so the ranking re-centres on it;
- "less/more <attribute>" moves the weight of the attribute's values (``genres=Action`` ...);
- "older/newer/shorter/less popular" bound a numeric attribute relative to what was shown; a catalog
  without the attribute (no price for "cheaper") gets a reply that says so.

:func:`~recpilot.conversation.reflection.critique_adjuster` turns the state into a score adjuster
the ranking tool applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from recpilot.conversation.reflection import (
    ANCHOR_STEP,
    ATTRIBUTE_STEP,
    POPULARITY,
    CritiqueAdjuster,
    critique_adjuster,
    reference_value,
)
from recpilot.memory.dialogue import Critique, CritiqueKind, DialogueState

__all__ = [
    "ANCHOR_STEP",
    "ATTRIBUTE_STEP",
    "COMPARATIVES",
    "MOODS",
    "POPULARITY",
    "CritiqueAdjuster",
    "ParsedCritique",
    "Selection",
    "apply_critique",
    "critique_adjuster",
    "parse_critique",
    "parse_critiques",
    "parse_selection",
    "reference_value",
]


#: Mood words -> genres they move ("less violent" down-weights each).
MOODS: dict[str, tuple[str, ...]] = {
    "violent": ("Action", "Thriller", "Horror", "Crime", "War"),
    "violence": ("Action", "Thriller", "Horror", "Crime", "War"),
    "gory": ("Horror",),
    "scary": ("Horror", "Thriller"),
    "dark": ("Horror", "Crime", "Thriller", "Film-Noir"),
    "intense": ("Thriller", "Action", "War"),
    "funny": ("Comedy",),
    "silly": ("Comedy", "Children"),
    "romantic": ("Romance",),
    "sad": ("Drama", "War"),
    "serious": ("Drama",),
    "childish": ("Children", "Animation"),
    "kiddy": ("Children", "Animation"),
    "action": ("Action",),
    "exciting": ("Action", "Adventure", "Thriller"),
}
#: Comparative -> (numeric attributes it may mean, in order of preference; direction).
COMPARATIVES: dict[str, tuple[tuple[str, ...], Literal["lower", "higher"]]] = {
    "older": (("year",), "lower"),
    "earlier": (("year",), "lower"),
    "newer": (("year",), "higher"),
    "more recent": (("year",), "higher"),
    "recent": (("year",), "higher"),
    "shorter": (("runtime", "duration", "length"), "lower"),
    "longer": (("runtime", "duration", "length"), "higher"),
    "cheaper": (("price", "cost"), "lower"),
    "less expensive": (("price", "cost"), "lower"),
    "more expensive": (("price", "cost"), "higher"),
    "less popular": ((POPULARITY,), "lower"),
    "more obscure": ((POPULARITY,), "lower"),
    "lesser known": ((POPULARITY,), "lower"),
    "more popular": ((POPULARITY,), "higher"),
    "better known": ((POPULARITY,), "higher"),
}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "last": -1, "one": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ORDINAL = (
    r"(?:the )?(?:(?P<ord>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
    r"|\d+(?:st|nd|rd|th))(?: one| title| film| movie| item)?"
    r"|(?:number|no|#) ?(?P<num>\d+|one|two|three|four|five|six|seven|eight|nine|ten))"
)
_REJECT = re.compile(
    rf"^(?:no[, ]+|nah[, ]+)?(?:not|no to|skip|drop|remove|i (?:do not|dont) (?:want|like)|hide)"
    rf" (?:(?P<this>this one|that one|this|that|it)|{_ORDINAL}|(?P<title>.+))$"
)
_MORE_LIKE = re.compile(
    rf"^(?:(?:show me |give me |find |something |i want |more )?(?:more )?(?:like|similar to) )"
    rf"(?:(?P<this>this one|that one|this|that|it)|{_ORDINAL}|(?P<title>.+))$"
)
_OTHER = re.compile(
    r"^(?:something else|something different|anything else|other ones?|none of (?:these|those|them)|"
    r"not (?:these|those)|different ones?|i (?:do not|dont) like (?:any of )?(?:these|those|them))$"
)
_SHIFT = re.compile(
    r"^(?:something |anything |show me |give me |make it |i want |a bit |slightly )*"
    r"(?P<dir>less|more|fewer) (?P<what>[a-z\- ]+?)(?: please| ones?| films?| movies?| stuff)?$"
)
_COMPARE = re.compile(
    r"^(?:something |anything |show me |give me |i want |a bit |slightly |ones? |movies? |films? )*"
    r"(?P<what>" + "|".join(sorted(COMPARATIVES, key=len, reverse=True)) + r")"
    r"(?: ones?| films?| movies?| please| stuff| titles?)*$"
)

_SELECT = re.compile(
    r"^(?P<verb>(?:i'?ll|i will|let'?s|lets) (?:take|watch|go with)|i (?:want|pick|choose)|give me|"
    r"tell me (?:more )?about|what about|how about|what is|whats|details (?:on|about|of)|info on)? ?"
    rf"(?:(?P<this>this one|that one)|{_ORDINAL})(?P<title>(?!))?$"
)


@dataclass
class Selection:
    """A pick from the list shown last ("the second one", "tell me about the third one").

    Attributes:
        item_id: The item picked (None with a problem).
        details: The user asked about it rather than choosing it.
        problem: Why it cannot be resolved ("the seventh one" when five were shown).
    """

    item_id: str | None
    details: bool
    problem: str | None = None


def parse_selection(text: str, shown: list[tuple[str, str]]) -> Selection | None:
    """Read a reference to a shown item by position, or None when the message is not one."""
    match = _SELECT.match(_normalise(text))
    if match is None:
        return None
    verb = match.group("verb") or ""
    item, problem = _resolve(match, shown)
    details = verb.startswith(("tell", "what", "details", "info", "how"))
    return Selection(item_id=item, details=details, problem=problem)


@dataclass
class ParsedCritique:
    """A critique as read from a message, before it touches the state.

    Attributes:
        kind: The critique's kind (see :class:`~recpilot.memory.Critique`).
        item_id: The item it is about (resolved against the list shown last), when it names one.
        attributes: ``field=value`` attributes it moves (``less``/``more``).
        numeric: The numeric attribute of a ``lower``/``higher`` critique.
        problem: Why it cannot be applied (an item that was not shown, an attribute the catalog lacks);
            the reply states it and the state stays unchanged.
        text: The user's words.
    """

    kind: CritiqueKind
    item_id: str | None = None
    attributes: list[str] = field(default_factory=list)
    numeric: str | None = None
    problem: str | None = None
    text: str = ""


def parse_critique(
    text: str,
    shown: list[tuple[str, str]],
    *,
    genres: frozenset[str] = frozenset(),
    numeric: frozenset[str] = frozenset(),
) -> ParsedCritique | None:
    """Read a critique of the last list, or None when the message is not one.

    Args:
        text: The message.
        shown: ``(item_id, title)`` of the list shown last, in order.
        genres: The catalog's genre values (for "less horror").
        numeric: The catalog's numeric attributes (``year``; ``popularity`` is always available).
    """
    low = _normalise(text)
    if _OTHER.match(low):
        return ParsedCritique(kind="other", text=text)
    kinds: tuple[tuple[re.Pattern[str], CritiqueKind], ...] = ((_MORE_LIKE, "more_like"), (_REJECT, "reject"))
    for pattern, kind in kinds:
        match = pattern.match(low)
        if match is None:
            continue
        if match.group("title") and not _names_shown(match.group("title"), shown):
            continue  # "not too long", "like Heat": not about a shown item, the request parser reads it
        item, problem = _resolve(match, shown)
        return ParsedCritique(kind=kind, item_id=item, problem=problem, text=text)
    compare = _COMPARE.match(low)
    if compare:
        candidates, direction = COMPARATIVES[compare.group("what")]
        available = [n for n in candidates if n in numeric or n == POPULARITY]
        if not available:
            word = compare.group("what")
            have = ", ".join(sorted({*numeric, POPULARITY}))
            return ParsedCritique(
                kind=direction,
                problem=f"This catalog has no {' or '.join(candidates)} attribute, so I can't make it "
                f"{word}; I can go by {have} instead (e.g. “older”, “less popular”).",
                text=text,
            )
        return ParsedCritique(kind=direction, numeric=available[0], text=text)
    shift = _SHIFT.match(low)
    if shift:
        values = _genre_values(shift.group("what").strip(), genres)
        if values:
            kind = "more" if shift.group("dir") == "more" else "less"
            return ParsedCritique(kind=kind, attributes=[f"genres={v}" for v in values], text=text)
    return None


_CLAUSE = re.compile(r"\s*(?:[,;]|\band\b|\bbut\b|\balso\b|\bplus\b)\s*", re.IGNORECASE)


def parse_critiques(
    text: str,
    shown: list[tuple[str, str]],
    *,
    genres: frozenset[str] = frozenset(),
    numeric: frozenset[str] = frozenset(),
) -> list[ParsedCritique]:
    """Read one critique, or several joined in one message ("not the first one, and less violent").

    A message splits into critiques only when every clause is one; otherwise it is a single critique
    or none (an empty list), so "funny but not silly" stays a request for the request parser.

    Args:
        text: The message.
        shown: ``(item_id, title)`` of the list shown last, in order.
        genres: The catalog's genre values.
        numeric: The catalog's numeric attributes.
    """
    whole = parse_critique(text, shown, genres=genres, numeric=numeric)
    if whole is not None:
        return [whole]
    clauses = [clause for clause in _CLAUSE.split(text) if clause.strip()]
    if len(clauses) < 2:
        return []
    parsed = [parse_critique(clause, shown, genres=genres, numeric=numeric) for clause in clauses]
    return [critique for critique in parsed if critique is not None] if all(parsed) else []


def apply_critique(
    state: DialogueState, critique: ParsedCritique, *, reference: float | None = None
) -> Critique:
    """Record a parsed critique (without a problem) in the state and update its estimate.

    Args:
        state: The session's state (changed in place).
        critique: What :func:`parse_critique` read.
        reference: For ``lower``/``higher``: the value to move away from (the named item's, or the
            median of the list shown last); None leaves the bound open.

    Returns:
        The :class:`~recpilot.memory.Critique` appended to ``state.critiques``.
    """
    if critique.kind == "reject" and critique.item_id is not None:
        state.reject_item(critique.item_id)
        state.item_weights[critique.item_id] = -1.0
    elif critique.kind == "more_like" and critique.item_id is not None:
        state.item_weights[critique.item_id] = state.item_weights.get(critique.item_id, 0.0) + 1.0
        state.rejected_items = [i for i in state.rejected_items if i != critique.item_id]
    elif critique.kind == "other":
        for item in state.last_shown:
            state.reject_item(item)
            state.item_weights[item] = min(state.item_weights.get(item, 0.0), -0.3)
    elif critique.kind in ("less", "more"):
        sign = -1.0 if critique.kind == "less" else 1.0
        for attribute in critique.attributes:
            state.attribute_weights[attribute] = state.attribute_weights.get(attribute, 0.0) + sign
    elif critique.kind in ("lower", "higher") and critique.numeric and reference is not None:
        step = 1.0 if critique.numeric in ("year", POPULARITY) else abs(reference) * 0.05 or 1.0
        low, high = state.numeric_bounds.get(critique.numeric, (None, None))
        if critique.kind == "lower":
            high = reference - step if high is None else min(high, reference - step)
        else:
            low = reference + step if low is None else max(low, reference + step)
        state.numeric_bounds[critique.numeric] = (low, high)
    record = Critique(
        kind=critique.kind,
        item_id=critique.item_id,
        attribute=critique.attributes[0] if critique.attributes else critique.numeric,
        text=critique.text,
        turn=state.turn,
    )
    state.critiques.append(record)
    return record


def _normalise(text: str) -> str:
    low = re.sub(r"\s+", " ", re.sub(r"[!?.]+$", "", text.lower().replace("’", "'"))).strip()
    return re.sub(r"^(?:please |hmm,? |ok,? |okay,? |well,? |actually,? |and )+", "", low)


def _resolve(match: re.Match[str], shown: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    if not shown:
        return None, "I haven't shown you anything yet in this conversation, so there is nothing to refer to."
    if match.group("this"):
        return shown[0][0], None
    word = match.group("ord") or match.group("num")
    if word:
        position = _ORDINALS.get(word)
        if position is None:
            digits = re.match(r"\d+", word)
            position = int(digits.group()) if digits else 0
        position = len(shown) if position == -1 else position
        if not 1 <= position <= len(shown):
            return None, (
                f"You mentioned item {position}, but I only showed {len(shown)}; "
                f"say a number from 1 to {len(shown)} or the title."
            )
        return shown[position - 1][0], None
    title = match.group("title")
    found = _names_shown(title, shown)
    if found is None:
        return None, f"“{title}” wasn't in the list I showed; name one of those titles or its number."
    return found, None


def _names_shown(phrase: str, shown: list[tuple[str, str]]) -> str | None:
    key = _title_key(phrase)
    if len(key) < 3:
        return None
    for item, title in shown:
        if key == _title_key(title) or (len(key) >= 4 and key in _title_key(title)):
            return item
    return None


def _title_key(title: str) -> str:
    body = re.sub(r"\s*\(\d{4}\)\s*$", "", title.lower())
    return re.sub(r"[^\w]+", " ", body).strip()


def _genre_values(words: str, genres: frozenset[str]) -> list[str]:
    lowered = {g.lower(): g for g in genres}
    if words in MOODS:
        return [g for g in MOODS[words] if g.lower() in lowered]
    for form in (words, words.rstrip("s"), re.sub(r"ies$", "y", words)):
        if form in lowered:
            return [lowered[form]]
    return []
