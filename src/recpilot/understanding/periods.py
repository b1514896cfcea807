"""Periods in words: "90s", "early 2000s", "between 1990 and 1995", "after 2010", "recent", "classic".

Each expression becomes an inclusive year range. A negated one ("nothing before 1990") is inverted when
the inverse is one range; otherwise it is reported as not applied, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from recpilot.understanding.lexicon import word_set
from recpilot.understanding.tokens import Word

_FIRST_RECENT_OFFSET = 4  # "recent": the catalog's last five years
_OLD_BEFORE = 1980  # "old", "classic": released before 1980
_WORD_DECADES = {
    "twenties": 1920,
    "thirties": 1930,
    "forties": 1940,
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
}
_DECADE_PART = {"early": (0, 4), "mid": (3, 7), "late": (5, 9)}
_Y = r"(1[89]\d\d|20\d\d)"
_DEC = r"(?:(1[89]|20)?(\d)0s|(" + "|".join(_WORD_DECADES) + "))"
_THE = r"(?:the )?"
_USED = "§"


@dataclass(frozen=True)
class Period:
    """An inclusive year range (a bound may be open) and how the user said it."""

    min: int | None
    max: int | None
    text: str


def _decade(century: str | None, digit: str | None, word: str | None, latest: int) -> int:
    if word:
        return _WORD_DECADES[word]
    tens = int(digit or 0) * 10
    if century:
        return int(century) * 100 + tens
    # "20s" is the 1920s for a catalog that ends before 2020, "10s" the 2010s.
    return 2000 + tens if 2000 + tens <= latest else 1900 + tens


Bounds = tuple[int | None, int | None]


def _rules(latest: int) -> list[tuple[str, Callable[[re.Match[str]], Bounds]]]:
    """The period expressions, most specific first, each with the year range it states; ``latest``
    (the catalog's last year) anchors "recent" and two-digit decades."""

    def dec(match: re.Match[str], group: int) -> int:
        return _decade(match.group(group), match.group(group + 1), match.group(group + 2), latest)

    def y(match: re.Match[str], group: int) -> int:
        return int(match.group(group))

    return [
        (
            rf"\bbetween {_THE}(?:years )?{_Y} and {_THE}{_Y}\b",
            lambda m: (min(y(m, 1), y(m, 2)), max(y(m, 1), y(m, 2))),
        ),
        (
            rf"\b(?:from )?{_THE}{_Y} (?:to|until|till|through|thru) {_THE}{_Y}\b",
            lambda m: (min(y(m, 1), y(m, 2)), max(y(m, 1), y(m, 2))),
        ),
        (
            rf"\b(?:between|from) {_THE}{_DEC} (?:and|to|until|till|through) {_THE}{_DEC}\b",
            lambda m: (dec(m, 1), dec(m, 4) + 9),
        ),
        (
            rf"\b(?:after|post|later than|newer than|more recent than|released after|made after)"
            rf"(?: the year)? {_Y}\b",
            lambda m: (y(m, 1) + 1, None),
        ),
        (
            rf"\b(?:since|from|starting(?: in| from)?|beginning(?: in)?) {_Y} "
            r"(?:on|onwards|onward|forward|and up|(?:and|or) (?:later|after|newer))\b",
            lambda m: (y(m, 1), None),
        ),
        (rf"\bsince {_Y}\b", lambda m: (y(m, 1), None)),
        (rf"\b{_Y} (?:or|and) (?:later|after|newer|beyond|up|above)\b", lambda m: (y(m, 1), None)),
        (rf"\b{_Y} (?:onwards|onward|on)\b", lambda m: (y(m, 1), None)),
        (
            rf"\b(?:before|pre|prior to|earlier than|older than|released before|made before)"
            rf"(?: the year)? {_Y}\b",
            lambda m: (None, y(m, 1) - 1),
        ),
        (rf"\b(?:until|till|up to|through|thru|no later than) {_Y}\b", lambda m: (None, y(m, 1))),
        (rf"\b{_Y} (?:or|and) (?:earlier|before|older|below)\b", lambda m: (None, y(m, 1))),
        (rf"\b(?:after|post|later than|newer than) {_THE}{_DEC}\b", lambda m: (dec(m, 1) + 10, None)),
        (
            rf"\b(?:since|from) {_THE}{_DEC} (?:on|onwards|onward|and later|or later)\b",
            lambda m: (dec(m, 1), None),
        ),
        (rf"\bsince {_THE}{_DEC}\b", lambda m: (dec(m, 1), None)),
        (
            rf"\b(?:before|pre|prior to|earlier than|older than) {_THE}{_DEC}\b",
            lambda m: (None, dec(m, 1) - 1),
        ),
        (rf"\b(?:(early|mid|late) )?{_DEC}\b", lambda m: _part(m.group(1), dec(m, 2))),
        # "los 90", "años 80", "années 70", "90er": decades in Spanish, French, Italian, German.
        (
            r"\b(?:los|anos|annees|anni) (1[89]|20)?(\d)0\b",
            lambda m: _part(None, _decade(m.group(1), m.group(2), None, latest)),
        ),
        (r"\b(1[89]|20)?(\d)0er\b", lambda m: _part(None, _decade(m.group(1), m.group(2), None, latest))),
        (rf"\b(?:around|circa|about) {_Y}\b", lambda m: (y(m, 1) - 2, y(m, 1) + 2)),
        (rf"\b(?:in|from|of|released in|made in|year) {_Y}\b", lambda m: (y(m, 1), y(m, 1))),
        (rf"\b{_Y}\b", lambda m: (y(m, 1), y(m, 1))),
        (
            r"\b(?:recent|recently released|newest|latest|newer|brand new|new releases?|new release|current|"
            r"this year|(?:last|past) (?:few|couple of|couple|several) years|modern day)\b",
            lambda m: (latest - _FIRST_RECENT_OFFSET, None),
        ),
        (
            r"(?<!year )(?<!years )\b(?:old|older|oldies|classic|classics|vintage|golden age|black and white|"
            r"old school|old fashioned)\b",
            lambda m: (None, _OLD_BEFORE - 1),
        ),
    ]


def find_periods(words: list[Word], years: tuple[int, int] | None) -> tuple[list[Period], list[str]]:
    """Year ranges the words state, marking the words used; returns ``(periods, not_applied)``.

    Args:
        words: The request's words (words already used by other steps are skipped).
        years: The catalog's first and last year (for "recent" and the two-digit decades).
    """
    first, latest = years or (1900, 2030)
    keys = [_USED if w.used else w.key for w in words]
    text = " ".join(keys)
    starts: list[int] = []
    position = 0
    for key in keys:
        starts.append(position)
        position += len(key) + 1
    taken = [False] * len(words)
    periods: list[Period] = []
    skipped: list[str] = []
    for pattern, build in _rules(latest):
        for match in re.finditer(pattern, text):
            span = [i for i, s in enumerate(starts) if match.start() <= s < match.end()]
            if not span or any(taken[i] for i in span):
                continue
            low, high = build(match)
            if not _plausible(low, high, first, latest):
                continue
            phrase = " ".join(words[i].text for i in span)
            if _negated(words, span[0]):
                inverted = _invert(low, high, first, latest)
                if inverted is None:
                    skipped.append(phrase)
                    for i in span:
                        taken[i] = True
                    continue
                low, high = inverted
                phrase = f"not {phrase}"
            for i in span:
                taken[i] = True
            periods.append(Period(low, high, phrase))
    periods.extend(_new_releases(words, taken, latest))
    for index, flag in enumerate(taken):
        if flag:
            words[index].used = True
    return periods, skipped


# Words between a negation and the period it negates ("nothing from the 90s", "not too old").
_BRIDGE = word_set(
    "from the in too so very any anything something released made movies films want wanna need see watch"
)
_CUES = word_set("no not nothing none never without except excluding avoid dont didnt")


def _negated(words: list[Word], index: int) -> bool:
    """Whether a negation stands right before the period starting at ``index`` ("no horror from the
    90s" negates the genre, not the decade)."""
    position = index - 1
    while position >= 0 and words[position].key in _BRIDGE and not words[position + 1].stop:
        position -= 1
    return position >= 0 and words[position].key in _CUES and not words[position + 1].stop


def _part(part: str | None, decade: int) -> tuple[int, int]:
    low, high = _DECADE_PART.get(part or "", (0, 9))
    return decade + low, decade + high


def _plausible(low: int | None, high: int | None, first: int, latest: int) -> bool:
    bounds = [b for b in (low, high) if b is not None]
    return all(first - 50 <= b <= latest + 10 for b in bounds)


def _invert(
    low: int | None, high: int | None, first: int, latest: int
) -> tuple[int | None, int | None] | None:
    if low is not None and high is None:
        return None, low - 1
    if high is not None and low is None:
        return high + 1, None
    if low is not None and high is not None:
        if high >= latest:
            return None, low - 1
        if low <= first:
            return high + 1, None
    return None


_NEW_NOUNS = word_set("movie movies film films release releases ones one stuff titles picks")


def _new_releases(words: list[Word], taken: list[bool], latest: int) -> list[Period]:
    """ "new movies", "new comedy": recent; "something new" only means unseen, so it is left alone."""
    found: list[Period] = []
    for index, word in enumerate(words):
        if word.key != "new" or word.used or taken[index]:
            continue
        ahead = [w.key for w in words[index + 1 : index + 3]]
        previous = words[index - 1].key if index else ""
        if previous in ("something", "anything", "someone") or not ahead:
            continue
        if ahead[0] in _NEW_NOUNS or (len(ahead) > 1 and ahead[1] in _NEW_NOUNS):
            taken[index] = True
            found.append(Period(latest - _FIRST_RECENT_OFFSET, None, "new"))
    return found
