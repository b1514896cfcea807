"""References to what the conversation has shown: "the third one", "number 2", "it", "the Spielberg one".

:func:`find_references` reads a normalised message against the list shown last (and the item in
focus) and returns the items it points to, in the order named, or the problem that stops it
("the seventh one" after five, "it" before anything was shown). Catalog titles that were not shown
("Heat or Ronin?") are looked up by the caller with the request parser's title finder.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Any

from recpilot.memory.dialogue import DialogueState
from recpilot.tools.context import Catalog, as_list
from recpilot.understanding.lexicon import phrase_key, word_set
from recpilot.understanding.tokens import STOPWORDS
from recpilot.understanding.vocabulary import title_forms

_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "last": -1,
    "penultimate": -2, "1st": 1, "2nd": 2, "3rd": 3, "top": 1,
}  # fmt: skip
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_NUMBER = r"(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_ORDINAL = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|\d{1,2}(?:st|nd|rd|th))"
)
_NOUN = r"(?:one|ones|film|films|movie|movies|title|titles|pick|picks|option|options|suggestion|item|entry)"
# "the third one", "third film", "the last", "the last two" (no: a count), "second to last".
_BY_ORDINAL = re.compile(
    rf"\b(?:(?P<the>the|your|that|this) )?(?:very )?(?P<ord>{_ORDINAL}|last|penultimate|top)"
    rf"(?: (?P<noun>{_NOUN}))?(?P<tolast> (?:to|from) (?:the )?last)?\b"
)
# "the first two", "the last three", "the top 3".
_FIRST_N = re.compile(
    r"\b(?:the )?(?P<end>first|last|top) (?P<n>two|three|four|five|2|3|4|5)\b(?! (?:years?|decades?|times?))"
)
# "number 2", "no 3", "#4", "numbers 1 and 3", "number one and three", "1 and 3" (after a list verb).
_BY_NUMBER = re.compile(rf"(?:\b(?:numbers?|nos?|nr)|#) ?(?P<num>{_NUMBER})\b")
_MORE_NUMBERS = re.compile(
    rf"^(?:(?:,|and|&|or|\+|as well as|plus) )+(?:(?:number|no|#) ?)?(?P<num>{_NUMBER})\b"
)
_BARE_NUMBERS = re.compile(r"\b(?P<num>\d{1,2})\b")
_PRONOUN = re.compile(
    r"\b(?:it|that one|this one|that film|this film|that movie|this movie|that title|that pick|"
    r"the one you (?:just )?(?:mentioned|suggested|recommended|said))\b"
)
_PLURAL = re.compile(
    r"\b(?:these|those|them|all of them|all of these|all of those|the list|this list|your list|"
    r"your picks|your suggestions)\b"
)
_BOTH = re.compile(r"\bboth\b")
# "the Spielberg one", "the animated one", "the one with Robin Williams".
_DESCRIBED = re.compile(r"\bthe (?P<what>[a-z0-9][a-z0-9 ]{1,30}?) (?:one|film|movie)\b")
_WITH = re.compile(r"\bthe one (?:with|by|about|from|starring|set in) (?P<what>[a-z0-9][a-z0-9 ]{1,30})")
_NOT_DESCRIPTIONS = word_set(
    "first second third fourth fifth sixth seventh eighth ninth tenth last other same next right new "
    "previous top only"
)


@dataclass(frozen=True)
class ShownItem:
    """An item of the list shown last: its position (1-based), id, title and searchable words."""

    position: int
    item_id: str
    title: str
    words: str


@dataclass
class References:
    """What a message points to among the shown items.

    Attributes:
        items: Item ids, in the order the message names them (no duplicates).
        positions: Positions named by number or ordinal (1-based), for messages.
        plural: The message refers to the whole list ("these", "all of them").
        pronoun: It refers to an item only by "it" / "that one".
        problem: Why a reference cannot be resolved; the reply says it and nothing changes.
        spans: The character spans of the text the references used (for title lookups elsewhere).
    """

    items: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    plural: bool = False
    pronoun: bool = False
    problem: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)

    def add(self, item_id: str) -> None:
        """Add an item once."""
        if item_id not in self.items:
            self.items.append(item_id)


def normalise(message: str) -> str:
    """The message in the form references are read from: lower case, plain words; ``#``, commas and
    question marks kept as words."""
    text = message.lower().replace("’", "'").replace("#", " # ")
    text = re.sub(r"[^\w#&+' ,?]+", " ", text)
    text = text.replace("'", "").replace(",", " , ").replace("?", " ? ")
    return re.sub(r"\s+", " ", text).strip()


def find_references(
    text: str,
    shown: list[ShownItem],
    focus: str | None,
    *,
    numbers: bool = False,
    discussed: list[str] | None = None,
) -> References:
    """The shown items a normalised message refers to (see the module docstring).

    Args:
        text: The message, :func:`normalise`-d.
        shown: The list shown last, in order (empty before any list).
        focus: The item the conversation is about (the last one asked about or picked), if any.
        numbers: Bare numbers count as positions ("I've seen 2 and 4"): only for acts about items.
        discussed: The items the last question was about; "both (of those)" means them when two.
    """
    refs = References()
    count = len(shown)
    named: list[tuple[int, int]] = []  # (offset, position)
    for match in _FIRST_N.finditer(text):
        size = _number(match.group("n"))
        first = match.group("end") != "last"
        named.extend((match.start() + k, k + 1 if first else -size + k) for k in range(size))
        refs.spans.append(match.span())
    for match in _BY_ORDINAL.finditer(text):
        if any(start <= match.start() < stop for start, stop in refs.spans):
            continue
        word = match.group("ord")
        if word in ("top", "last") and not (match.group("the") or match.group("noun")):
            continue  # "last night", "top rated": not a reference
        if word == "top" and match.group("noun") is None:
            continue
        if word[0].isdigit() and not (match.group("the") or match.group("noun")):
            continue  # "the 90s"-like digits are handled as numbers, never as 5th
        position = _ORDINAL_WORDS.get(word) or int(re.sub(r"\D", "", word) or 0)
        if match.group("tolast"):
            position = -1 - position if position > 0 else position
        named.append((match.start(), position))
        refs.spans.append(match.span())
    for match in _BY_NUMBER.finditer(text):
        named.append((match.start(), _number(match.group("num"))))
        refs.spans.append(match.span())
        rest = text[match.end() :].strip()
        offset = match.end()
        while True:
            more = _MORE_NUMBERS.match(rest)
            if more is None:
                break
            named.append((offset + more.start("num"), _number(more.group("num"))))
            rest = rest[more.end() :].strip()
            offset += more.end()
    if numbers and not named:
        for match in _BARE_NUMBERS.finditer(text):
            value = int(match.group("num"))
            if 0 < value <= max(count, 10):
                named.append((match.start(), value))
                refs.spans.append(match.span())
    for match in [*_DESCRIBED.finditer(text), *_WITH.finditer(text)]:
        what = match.group("what").strip()
        if what.split()[0] in _NOT_DESCRIPTIONS or what in _ORDINAL_WORDS:
            continue
        hits = _described(what, shown)
        if len(hits) == 1:
            named.append((match.start(), hits[0].position))
            refs.spans.append(match.span())
        elif len(hits) > 1 and refs.problem is None:
            titles = " and ".join(h.title for h in hits[:3])
            refs.problem = (
                f"More than one of the titles I showed fits “{what}” ({titles}); which one do you mean?"
            )
    for offset, item in _titles_named(text, shown):
        named.append((offset, next(s.position for s in shown if s.item_id == item)))
    for _, position in sorted(named):
        refs.positions.append(position)
    if named and not shown:
        refs.problem = refs.problem or _NOTHING_SHOWN
        return refs
    for position in refs.positions:
        index = count + position + 1 if position < 0 else position
        if not 1 <= index <= count:
            word = f"item {position}" if position > 0 else "that position"
            refs.problem = (
                f"You mentioned {word}, but I only showed {count} title{'s' if count != 1 else ''}; "
                f"say a number from 1 to {count} or the title."
            )
            refs.items = []
            return refs
        refs.add(shown[index - 1].item_id)
    if not refs.items and _PRONOUN.search(text):
        refs.pronoun = True
        if focus is not None:
            refs.add(focus)
        elif count == 1:
            refs.add(shown[0].item_id)
        elif not shown:
            refs.problem = _NOTHING_SHOWN
        else:
            refs.problem = (
                f"I'm not sure which of the {count} titles you mean; "
                f"say its number (1 to {count}) or its title."
            )
    if not refs.items and discussed and len(discussed) == 2 and _BOTH.search(text):
        refs.plural = True
        for item in discussed:
            refs.add(item)
    if not refs.items and not refs.pronoun and _PLURAL.search(text) and shown:
        refs.plural = True
        for entry in shown:
            refs.add(entry.item_id)
    return refs


_NOTHING_SHOWN = (
    "I haven't shown you any titles yet in this conversation, so there is nothing to refer to. "
    "Ask me for something first, for example “a 90s comedy”."
)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _described(what: str, shown: list[ShownItem]) -> list[ShownItem]:
    """Shown items whose title, genres or tags contain every content word of ``what``."""
    words = [w for w in what.split() if w not in STOPWORDS]
    if not words:
        return []
    return [s for s in shown if all(re.search(rf"\b{re.escape(w)}", s.words) for w in words)]


def _titles_named(text: str, shown: list[ShownItem]) -> list[tuple[int, str]]:
    """Shown items named by title in the text: the whole main title, or a distinctive word of it
    that no other shown title has ("Ronin", "the Heat one")."""
    found: list[tuple[int, str]] = []
    padded = f" {text} "
    for item in shown:
        main, alternatives, _ = title_forms(item.title)
        for form in (main, *alternatives):
            key = phrase_key(form)
            bare = re.sub(r"^(?:the|a|an) ", "", key)
            for candidate in (key, bare):
                if len(candidate) >= 3 and candidate not in STOPWORDS and f" {candidate} " in padded:
                    found.append((padded.index(f" {candidate} "), item.item_id))
                    break
            else:
                continue
            break
    return found


def shown_items(catalog: Catalog, state: DialogueState) -> list[ShownItem]:
    """The list shown last as :class:`ShownItem` (title, genres and tags searchable), in order."""
    columns = _columns(catalog)
    items = []
    for position, item in enumerate(state.last_shown, 1):
        if not catalog.has_item(item):
            continue
        index = catalog.index(item)
        values = [v for column in columns.values() for v in as_list(column[index])]
        title = str(columns["title"][index]) if "title" in columns else str(item)
        items.append(ShownItem(position, item, title, phrase_key(" ".join(map(str, values)))))
    return items


_COLUMNS: weakref.WeakKeyDictionary[Catalog, dict[str, Any]] = weakref.WeakKeyDictionary()


def _columns(catalog: Catalog) -> dict[str, Any]:
    """The catalog's title, genres and tags as arrays (kept per catalog: a turn reads a few rows)."""
    columns = _COLUMNS.get(catalog)
    if columns is None:
        frame = catalog.dataset.catalog
        columns = {c: frame[c].to_numpy() for c in ("title", "genres", "tags") if c in frame.columns}
        _COLUMNS[catalog] = columns
    return columns
