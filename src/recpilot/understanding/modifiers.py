"""Soft modifiers: "lighter", "darker", "less grim", "less violent", "scarier", "shorter".

A modifier changes the ranking's estimate, not the hard constraints: "like Se7en but less grim" still
looks for what is like Se7en, with dark genres and tags moved down and lighter ones moved up, through
the dialogue state's attribute weights (the same reflection critiques use, so the change lasts for the
session). A modifier the catalog cannot support ("shorter" without running times) is reported.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

from recpilot.memory.dialogue import DialogueState
from recpilot.tools.context import Catalog, as_list


@dataclass(frozen=True)
class Mood:
    """What a modifier moves: ``field=value`` attribute weights and how to say it."""

    name: str
    weights: tuple[tuple[str, float], ...]
    said: str


_LIGHT = Mood(
    "lighter",
    (
        ("genres=Horror", -0.5), ("genres=Crime", -0.4), ("genres=Thriller", -0.4), ("genres=War", -0.4),
        ("genres=Film-Noir", -0.4), ("genres=Comedy", 0.25), ("tags=dark", -0.3), ("tags=disturbing", -0.3),
        ("tags=violence", -0.2), ("tags=funny", 0.2), ("tags=feel-good", 0.2), ("tags=heartwarming", 0.2),
    ),
    "Lighter, as you asked: crime, thrillers, horror, war films and noir moved down, comedies up",
)  # fmt: skip
_DARK = Mood(
    "darker",
    (
        ("genres=Crime", 0.3), ("genres=Thriller", 0.3), ("genres=Film-Noir", 0.3), ("genres=Comedy", -0.4),
        ("genres=Children", -0.5), ("genres=Animation", -0.3), ("tags=dark", 0.3), ("tags=atmospheric", 0.2),
    ),
    "Darker, as you asked: crime, thrillers and noir moved up, comedies and family films down",
)  # fmt: skip
_GENTLE = Mood(
    "less violent",
    (("genres=Action", -0.5), ("genres=War", -0.5), ("genres=Horror", -0.5), ("genres=Crime", -0.3),
     ("tags=violence", -0.4), ("tags=violent", -0.4), ("tags=gore", -0.4)),
    "Less violent, as you asked: action, war, horror and crime films moved down",
)  # fmt: skip
_CALM = Mood(
    "less scary",
    (("genres=Horror", -0.7), ("genres=Thriller", -0.3), ("tags=scary", -0.4), ("tags=creepy", -0.4)),
    "Less scary, as you asked: horror films and thrillers moved down",
)
_SCARY = Mood(
    "scarier",
    (("genres=Horror", 0.5), ("genres=Thriller", 0.3), ("tags=scary", 0.3), ("tags=creepy", 0.2)),
    "Scarier, as you asked: horror films and thrillers moved up",
)
_MODIFIERS: dict[str, Mood] = {
    **dict.fromkeys(
        (
            "lighter", "less grim", "less dark", "not as dark", "not so dark", "not too dark", "less bleak",
            "less depressing", "less heavy", "less serious", "more upbeat", "more cheerful", "happier",
            "more lighthearted", "lighter hearted", "more light hearted", "less gloomy", "not as grim",
            "not so grim", "less grimy", "brighter", "more fun", "more feel good", "less sad", "cosy",
            "cozy", "comforting",
        ),
        _LIGHT,
    ),
    **dict.fromkeys(
        ("darker", "grittier", "bleaker", "more serious", "heavier", "grimmer", "more grim"), _DARK
    ),
    **dict.fromkeys(
        ("less violent", "less gory", "less brutal", "less bloody", "gentler", "not as violent",
         "not so violent", "less violence", "without so much violence", "tamer"),
        _GENTLE,
    ),
    **dict.fromkeys(
        ("less scary", "not as scary", "not so scary", "less creepy", "less frightening", "less terrifying"),
        _CALM,
    ),
    **dict.fromkeys(("scarier", "creepier", "more scary", "more frightening", "spookier"), _SCARY),
}  # fmt: skip
_LENGTH = {"shorter": "lower", "longer": "higher", "not too long": "lower", "less long": "lower"}
_LENGTH_ATTRIBUTES = ("runtime", "duration", "length", "minutes")
_PATTERN = re.compile(
    r"\b(?:a (?:bit|little|lot) |much |slightly |somewhat |way )?(?P<phrase>"
    + "|".join(re.escape(p) for p in sorted([*_MODIFIERS, *_LENGTH], key=len, reverse=True))
    + r")\b(?: (?:ones?|films?|movies?|stuff|please|in tone|tone))?"
)


@dataclass
class Modifiers:
    """The soft modifiers of a message and the message without them."""

    moods: list[Mood]
    length: str | None
    rest: str


def find_modifiers(message: str) -> Modifiers:
    """The modifiers in a message, and the message with them cut out (for the request parser)."""
    # Same length as the message, so the spans found cut the message as typed (capitals mark titles).
    low = message.replace("’", "'").replace("-", " ").lower()
    moods: list[Mood] = []
    length: str | None = None
    spans: list[tuple[int, int]] = []
    for match in _PATTERN.finditer(low):
        phrase = match.group("phrase")
        spans.append(match.span())
        if phrase in _LENGTH:
            length = _LENGTH[phrase]
        elif _MODIFIERS[phrase] not in moods:
            moods.append(_MODIFIERS[phrase])
    if not spans:
        return Modifiers([], None, message)
    rest = "".join(
        message[start:stop]
        for start, stop in zip(
            [0, *(e for _, e in spans)], [*(b for b, _ in spans), len(message)], strict=True
        )
    )
    rest = re.sub(r"\b(?:but|and|though|just|a bit)\s*(?=[,.!?]|$)", " ", rest, flags=re.IGNORECASE)
    return Modifiers(moods, length, re.sub(r"\s+", " ", rest).strip(" ,"))


def apply_modifiers(state: DialogueState, modifiers: Modifiers, catalog: Catalog) -> list[str]:
    """Move the state's attribute weights for each mood; returns sentences for the reply."""
    notes: list[str] = []
    present = _present_values(catalog)
    for mood in modifiers.moods:
        for attribute, weight in mood.weights:
            if attribute in present:
                state.attribute_weights[attribute] = state.attribute_weights.get(attribute, 0.0) + weight
        notes.append(f"{mood.said}.")
    if modifiers.length is not None:
        columns = set(catalog.dataset.catalog.columns)
        if not any(a in columns for a in _LENGTH_ATTRIBUTES):
            word = "shorter" if modifiers.length == "lower" else "longer"
            notes.append(f"(This catalog has no running times, so I can't pick {word} ones.)")
    return notes


_PRESENT: weakref.WeakKeyDictionary[Catalog, frozenset[str]] = weakref.WeakKeyDictionary()


def _present_values(catalog: Catalog) -> frozenset[str]:
    """``field=value`` pairs the catalog has, for the fields modifiers move (genres, tags)."""
    cached = _PRESENT.get(catalog)
    if cached is not None:
        return cached
    frame = catalog.dataset.catalog
    wanted = {a for mood in set(_MODIFIERS.values()) for a, _ in mood.weights}
    present = set()
    for name in ("genres", "tags"):
        if name not in frame.columns:
            continue
        values = {f"{name}={v}" for cell in frame[name] for v in as_list(cell)}
        present |= wanted & values
    result = frozenset(present)
    _PRESENT[catalog] = result
    return result
