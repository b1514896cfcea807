"""Items a request names: "like Toy Story", "I liked Heat and Se7en", "but not Twilight", "older than Heat".

A title is looked up only where a trigger says one is coming, longest span first, so "Heat" in "I
liked Heat" is the film while "heat" elsewhere is a word. A lone common word, or a genre word, is taken
as a title only when typed with a capital or followed by a clean end ("like heat", not "like big
explosions").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar

from recpilot.memory.base import PreferenceKind
from recpilot.understanding.lexicon import phrases, word_set
from recpilot.understanding.periods import Period
from recpilot.understanding.request import ItemReference, PreferenceNote
from recpilot.understanding.tokens import FILLER, STOPWORDS, Word, clause_end
from recpilot.understanding.vocabulary import CatalogVocabulary, pretty_title

Trigger = tuple[str, ...]
_V = TypeVar("_V")


def _triggers(text: str, value: _V) -> dict[Trigger, _V]:
    """Trigger phrases ("similar to | such as") as word tuples, each mapped to ``value``."""
    return {tuple(p.split()): value for p in phrases(text)}


# Comparisons: +1 "like X", -1 "unlike X".
_COMPARE: dict[Trigger, int] = {
    **_triggers(
        (
            "like | similar to | such as | in the vein of | in the style of | along the lines of | "
            "reminiscent "
            "of | reminds me of | a la | comparable to | akin to | the likes of | as good as | same vibe as "
            "| "
            "vibe of | vibes of | fans of | if you liked | if you loved"
        ),
        1,
    ),
    **_triggers("unlike | nothing like | not like", -1),
}
# Statements of taste: +1 liked, -1 disliked. Present tense needs "I"/"we" ("I like Heat").
_STATEMENT: dict[Trigger, int] = {
    **_triggers(
        (
            "liked | loved | enjoyed | adored | love | enjoy | adore | like | fan of | big fan of | "
            "favorite is "
            "| favourite is | favorite movie is | favourite movie is | favorite film is | favourite film is "
            "| "
            "favorite was | into"
        ),
        1,
    ),
    **_triggers(
        (
            "hated | hate | disliked | dislike | detest | despise | cant stand | couldnt stand | didnt like "
            "| "
            "dont like | didnt enjoy | did not like | do not like | not a fan of | not into"
        ),
        -1,
    ),
}
_PRESENT = frozenset(_triggers("enjoy | adore | hate | like | dislike | love | into", 0))
_SEEN: frozenset[Trigger] = frozenset(_triggers("seen | watched | already seen | already watched", 0))
# Exclusions that may name a title ("but not Twilight"); the title must look like one.
_EXCLUDE: frozenset[Trigger] = frozenset(
    _triggers(
        "minus | but not | except | excluding | other than | apart from | besides | not | anything but | no",
        0,
    )
)
# Comparatives on a title's year: "older than Heat" -> before 1995. Bare "before"/"after" need a clear title.
_COMPARATIVE: dict[Trigger, tuple[str, bool]] = {
    **_triggers("older than | earlier than", ("before", True)),
    **_triggers("made before | released before | before", ("before", False)),
    **_triggers("newer than | more recent than | later than", ("after", True)),
    **_triggers("released after | made after | after", ("after", False)),
}
_TRIGGER_LENGTH = 4
_SUBJECTS = word_set("i we ive weve im")
_ADVERBS = word_set(
    "really also totally absolutely just do did always kinda quite still truly genuinely especially "
    "particularly so very have had all both"
)
# "I'd like", "feel like", "looks like": not a comparison.
_NOT_COMPARING_AFTER = word_set(
    "would id wed youd d feel feels felt look looks looked sound sounds seem seems"
)
# What may follow a lone lower-case title for it to count ("like heat but newer", not "like big explosions").
_FOLLOWERS = word_set(
    "and or but from with that which in for please nor plus though yet than too as so is was movie "
    "movies film films one ones stuff kind type series franchise trilogy etc i we because since maybe "
    "without except not no either at on by"
)
_ARTICLES = frozenset(("the", "a", "an"))
_LEADING_FILLER = word_set("the movie film movies films")
_CONNECTORS = word_set("and or plus nor")
_UNRESOLVED_SPAN = 6
_TITLE_JOINERS = word_set("of the and a an in on to")
_YEARISH = re.compile(r"(?:1[89]|20)\d\d|(?:1[89]|20)?\d0s")


@dataclass
class FoundReferences:
    """Items a request names, by role."""

    liked: list[ItemReference] = field(default_factory=list)
    disliked: list[ItemReference] = field(default_factory=list)
    seen: list[ItemReference] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    remember: list[PreferenceNote] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)


class ReferenceFinder:
    """Finds titles after triggers and marks their words used.

    Args:
        words: The request's words.
        vocabulary: The catalog vocabulary.
        negated: Which words a negation reaches (from :func:`~recpilot.understanding.tokens.negation_scope`).
    """

    def __init__(
        self, words: list[Word], vocabulary: CatalogVocabulary, negated: list[bool] | None = None
    ) -> None:
        self.words = words
        self.vocabulary = vocabulary
        self.negated = negated or [False] * len(words)
        #: Word index -> +1/-1 for words inside a statement of taste ("I hate" musicals).
        self.stances: dict[int, int] = {}

    def find(self) -> FoundReferences:
        """Every reference the triggers in the words point to."""
        found = FoundReferences()
        index = 0
        while index < len(self.words):
            index = self._at(index, found)
        return found

    def bare_titles(self, *, whole: bool = False) -> list[ItemReference]:
        """Titles named without a trigger ("forget Heat"); with ``whole``, the words must be one title."""
        words = self.words
        if whole:
            keys = [w.key for w in words]
            indices = self.vocabulary.find_title(keys) or self.vocabulary.close_titles(" ".join(keys))
            text = " ".join(w.text for w in words)
            return [self._reference(text, indices[0])] if indices else []
        found: list[ItemReference] = []
        index = 0
        while index < len(words):
            hit = self._title_at(index, strong=False)
            if hit is None:
                index += 1
                continue
            length, indices = hit
            found.append(self._reference(" ".join(w.text for w in words[index : index + length]), indices[0]))
            index += length
        return found

    # -- internals ---------------------------------------------------------------------------------------

    def _at(self, index: int, found: FoundReferences) -> int:
        """Handle a trigger starting at ``index`` (if any); returns the next index to look at."""
        words = self.words
        if words[index].used:
            return index + 1
        for length in range(min(_TRIGGER_LENGTH, len(words) - index), 0, -1):
            trigger = tuple(w.key for w in words[index : index + length])
            start = index + length
            if trigger in _COMPARATIVE:
                direction, strong = _COMPARATIVE[trigger]
                if self._comparative(index, start, direction, strong, found):
                    return start
            if trigger in _STATEMENT and self._is_statement(index, trigger):
                polarity = _STATEMENT[trigger]
                self._mark_stance(start, polarity)
                remember = self._has_subject(index)
                refs = self._objects(start, strong=True)
                self._use(index, start, refs)
                for ref in refs:
                    (found.liked if polarity > 0 else found.disliked).append(ref)
                    if remember and ref.item_id is not None:
                        kind: PreferenceKind = "like_item" if polarity > 0 else "dislike_item"
                        found.remember.append(
                            PreferenceNote(kind=kind, value=str(ref.item_id), label=ref.title or ref.text)
                        )
                return start
            if (
                trigger in _COMPARE
                and not self._is_statement(index, trigger)
                and self._compares(index, trigger)
            ):
                polarity = _COMPARE[trigger] * (-1 if self.negated[index] and _COMPARE[trigger] > 0 else 1)
                refs = self._objects(start, strong=True)
                self._use(index, start, refs)
                if not refs:
                    self._unresolved(start, found)
                (found.liked if polarity > 0 else found.disliked).extend(refs)
                return start
            if trigger in _SEEN:
                found.seen.extend(self._objects(start, strong=False))
                return start
            if trigger in _EXCLUDE:
                refs = self._objects(start, strong=False)
                self._use(index, start, refs)
                if refs:
                    found.disliked.extend(refs)
                    return start
        return index + 1

    def _use(self, index: int, start: int, refs: list[ItemReference]) -> None:
        """Mark a trigger's words used once it led to titles."""
        if refs:
            for word in self.words[index:start]:
                word.used = True

    def _is_statement(self, index: int, trigger: Trigger) -> bool:
        if trigger not in _STATEMENT:
            return False
        if trigger in _PRESENT:
            return self._has_subject(index)
        return True

    def _has_subject(self, index: int) -> bool:
        position = index - 1
        while position >= 0 and self.words[position].key in _ADVERBS | {"not", "dont", "didnt", "a", "big"}:
            position -= 1
        return position >= 0 and self.words[position].key in _SUBJECTS

    def _compares(self, index: int, trigger: Trigger) -> bool:
        if trigger != ("like",):
            return True
        previous = self.words[index - 1].key if index else ""
        return previous not in _NOT_COMPARING_AFTER

    def _mark_stance(self, start: int, polarity: int) -> None:
        stop = clause_end(self.words, start)
        for position in range(start, stop):
            if self.words[position].key == "but" or (position > start and self.words[position].comma):
                break
            self.stances[position] = polarity

    def _comparative(
        self, index: int, start: int, direction: str, strong: bool, found: FoundReferences
    ) -> bool:
        hit = self._title_at(self._skip_filler(start), strong=strong)
        if hit is None:
            return False
        length, indices = hit
        begin = self._skip_filler(start)
        reference = self._reference(" ".join(w.text for w in self.words[begin : begin + length]), indices[0])
        for word in self.words[index : begin + length]:
            word.used = True
        if reference.year is None:
            found.unresolved.append(f"the year of {reference.title}")
            return True
        if direction == "before":
            found.periods.append(
                Period(None, reference.year - 1, f"older than {pretty_title(reference.title or '')}")
            )
        else:
            found.periods.append(
                Period(reference.year + 1, None, f"newer than {pretty_title(reference.title or '')}")
            )
        return True

    def _skip_filler(self, start: int) -> int:
        words = self.words
        position = start
        # "like the movie Heat": skip "the movie", but keep "the" of "the Matrix".
        while (
            position + 1 < len(words)
            and words[position].key in _LEADING_FILLER
            and words[position + 1].key in _LEADING_FILLER
        ):
            position += 1
        if (
            position < len(words)
            and words[position].key in _LEADING_FILLER - {"the"}
            and position + 1 < len(words)
        ):
            position += 1
        return position

    def _objects(self, start: int, *, strong: bool) -> list[ItemReference]:
        """Titles listed from ``start``: "Heat and Se7en", "Heat, Se7en or Ronin"."""
        words = self.words
        refs: list[ItemReference] = []
        position = self._skip_filler(start)
        while position < len(words):
            hit = self._title_at(position, strong=strong)
            if hit is None:
                break
            length, indices = hit
            span = words[position : position + length]
            refs.append(self._reference(" ".join(w.text for w in span), indices[0]))
            for word in words[start : position + length]:
                word.used = True
            position += length
            if position < len(words) and words[position].key in _CONNECTORS and not words[position].stop:
                following = self._title_at(position + 1, strong=strong) if position + 1 < len(words) else None
                if following is None:
                    break
                words[position].used = True
                position += 1
            elif not (
                position < len(words) and words[position].comma and self._title_at(position, strong=strong)
            ):
                break
        return refs

    def _title_at(self, start: int, *, strong: bool) -> tuple[int, list[int]] | None:
        words = self.words
        if start >= len(words):
            return None
        limit = min(len(words), start + self.vocabulary.title_starts.get(words[start].key, 0))
        for stop in range(limit, start, -1):
            span = words[start:stop]
            if any(w.used for w in span) or any(w.stop for w in span[1:]):
                continue
            indices = self.vocabulary.find_title([w.key for w in span])
            if indices and self._plausible(span, stop, strong):
                return self._longer_misspelt(start, stop) or (stop - start, indices)
        return None

    def _longer_misspelt(self, start: int, stop: int) -> tuple[int, list[int]] | None:
        """ "Toy Storey": when capitalised words run on past an exact title ("Toy"), a title spelt
        almost like the whole run wins."""
        words = self.words
        end = stop
        while end < len(words) and not words[end].used and not words[end].stop and not words[end].comma:
            if not (words[end].capitalised or (words[end].key in _TITLE_JOINERS and end + 1 < len(words))):
                break
            end += 1
        while end > stop and not words[end - 1].capitalised:
            end -= 1
        if end == stop:
            return None
        close = self.vocabulary.close_titles(" ".join(w.key for w in words[start:end]))
        return (end - start, close) if close else None

    def _plausible(self, span: list[Word], stop: int, strong: bool) -> bool:
        """Whether a span that spells a title is meant as one (see the module docstring)."""
        vocabulary = self.vocabulary
        whole = vocabulary.sense(" ".join(w.key for w in span))
        if whole is not None and whole.values:
            return False
        if len(span) == 1 and _YEARISH.fullmatch(span[0].key):
            return False  # "after 2010" is a year, not "2010: The Year We Make Contact"
        content = [
            w for w in span if w.key not in STOPWORDS and w.key not in FILLER and not _is_genre(vocabulary, w)
        ]
        capital = any(w.capitalised for w in span if w.key not in _ARTICLES)
        if not content and not capital:
            return False
        if len(content) <= 1 and not capital:
            follower = self.words[stop] if stop < len(self.words) else None
            if (
                follower is not None
                and not follower.stop
                and not follower.comma
                and follower.key not in _FOLLOWERS
            ):
                return False
        if not strong:
            return (capital and bool(content)) or len(content) >= 2
        return True

    def _unresolved(self, start: int, found: FoundReferences) -> None:
        """A capitalised name after "like" that is no catalog title: try a spelling match, else report it."""
        words = self.words
        span: list[Word] = []
        for word in words[self._skip_filler(start) :]:
            if (
                word.used
                or word.stop
                or (span and word.comma)
                or word.key in _FOLLOWERS
                or len(span) >= _UNRESOLVED_SPAN
            ):
                break
            if self.vocabulary.sense(word.key) is not None and not word.capitalised:
                break
            span.append(word)
        if not span or not any(w.capitalised for w in span if w.key not in _ARTICLES):
            return
        key = " ".join(w.key for w in span)
        close = self.vocabulary.close_titles(key)
        text = " ".join(w.text for w in span)
        if close:
            found.liked.append(self._reference(text, close[0]))
        else:
            found.unresolved.append(text)
        for word in span:
            word.used = True

    def _reference(self, text: str, index: int) -> ItemReference:
        vocabulary = self.vocabulary
        return ItemReference(
            text=text,
            item_id=vocabulary.items[index],
            title=vocabulary.display_titles[index],
            year=vocabulary.item_years[index],
        )


def _is_genre(vocabulary: CatalogVocabulary, word: Word) -> bool:
    sense = vocabulary.sense(word.key)
    return sense is not None and bool(sense.values)
