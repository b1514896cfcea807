"""Catching a hidden title in free text: the check a simulated user's every utterance goes through.

A prompt can ask a language model not to say the target's title; only code can make sure. The guard
matches the normalised title and its alternates exactly and fuzzily over word windows, and the title's
distinctive words one by one (a misspelling such as "Shawshenk" still counts; accents are ignored), then
redacts what it found.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recpilot.tools.context import normalise_title

#: What replaces a leaked span once the retries are spent.
REDACTION = "that film"
#: Words never distinctive on their own (function words, roman numerals, "movie"): a user needs them.
_STOPWORD_TEXT = """
a an the of and or in on at to for from with by is it its this that my your his her our their i me you
he she we they not no be are was were de la le les el los das der die und part ii iii iv one two three
vs movie film films movies something anything there here about what when where who how why all just
like more some any out into over after before then than so too very can will do does did have has had
get got go going been being one's who's what's there's
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+")
_ALTERNATE = re.compile(r"\(([^()]*[^\d()\s–-][^()]*)\)")  # "(a.k.a. ...)", "(Cité des enfants perdus, La)"


@dataclass(frozen=True)
class TitleGuard:
    """Finds and removes a title in free text: exact normalised forms, fuzzy windows, distinctive words.

    Args:
        forms: Normalised forms of the title (main title and alternates).
        distinctive: Normalised words that identify the title on their own.
        threshold: The ``difflib`` similarity from which a word or window counts as the title.
    """

    forms: tuple[str, ...]
    distinctive: frozenset[str]
    threshold: float = 0.86

    @classmethod
    def for_title(cls, title: str, distinctive: Iterable[str] | None = None) -> TitleGuard:
        """The guard for a catalog title; ``distinctive`` defaults to :func:`distinctive_terms`."""
        terms = distinctive_terms(title) if distinctive is None else distinctive
        return cls(title_forms(title), frozenset(_fold(t) for t in terms))

    def leaks(self, text: str) -> list[str]:
        """The parts of ``text`` that reveal the title (lower case), empty when none."""
        words = _words(text)
        return sorted({" ".join(words[start:end]) for start, end in self._spans(words)})

    def redact(self, text: str) -> str:
        """``text`` with every revealing span replaced by :data:`REDACTION`."""
        matches = list(_WORD.finditer(text))
        spans = self._spans([_fold(m.group(0)) for m in matches])
        if not spans:
            return text
        marked = [False] * len(matches)
        for start, end in spans:
            marked[start:end] = [True] * (end - start)
        pieces: list[str] = []
        cursor = 0
        for index, match in enumerate(matches):
            if not marked[index]:
                continue
            pieces.append(text[cursor : match.start()])
            if index == 0 or not marked[index - 1]:
                pieces.append(REDACTION)
            cursor = match.end()
        pieces.append(text[cursor:])
        return re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s+", " ", "".join(pieces))).strip()

    def _spans(self, words: Sequence[str]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for form in self.forms:
            size = len(form.split())
            if size == 1 and (len(form) < 3 or form in STOPWORDS):
                continue  # "Up", "It", "Her": too common to police as words
            for start in range(len(words) - size + 1):
                window = " ".join(words[start : start + size])
                if _word_matches(window, form, self.threshold):
                    spans.append((start, start + size))
        for index, word in enumerate(words):
            if any(_word_matches(word, term, self.threshold) for term in self.distinctive):
                spans.append((index, index + 1))
        return spans


def title_forms(title: str) -> tuple[str, ...]:
    """Normalised forms of a catalog title: the main title and any alternate in parentheses."""
    forms = [normalise_title(_ALTERNATE.sub("", title))]
    for alternate in _ALTERNATE.findall(title):
        text = re.sub(r"^(a\.k\.a\.|aka)\s+", "", alternate.strip(), flags=re.IGNORECASE)
        forms.append(normalise_title(text))
    return tuple(dict.fromkeys(" ".join(_fold(w) for w in _WORD.findall(f)) for f in forms if f.strip()))


def distinctive_terms(title: str, common: Iterable[str] = ()) -> list[str]:
    """Title words that identify it alone: not stopwords, not ``common`` in titles, not bare numbers."""
    skip = STOPWORDS | set(common)
    words = {w for form in title_forms(title) for w in form.split()}
    return sorted(w for w in words if len(w) >= 3 and not w.isdigit() and w not in skip)


def common_title_words(titles: Iterable[str], *, min_titles: int = 15) -> frozenset[str]:
    """Words found in at least ``min_titles`` of ``titles`` ("story", "day", "love"): not distinctive."""
    counts: Counter[str] = Counter()
    for title in titles:
        counts.update({w for form in title_forms(title) for w in form.split()})
    return frozenset(word for word, count in counts.items() if count >= min_titles)


def _words(text: str) -> list[str]:
    return [_fold(w) for w in _WORD.findall(text)]


def _fold(word: str) -> str:
    """Lower case without accents: "Amelie" reveals "Amélie" as surely as the accented spelling."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _word_matches(word: str, term: str, threshold: float) -> bool:
    if word == term:
        return True
    # Short words only match exactly: at four letters one typo is already a different word.
    return len(term) >= 5 and len(word) >= 4 and _similar(word, term) >= threshold
