"""Natural language -> :class:`ParsedRequest`, using only the catalog's own vocabulary.

The parser reads a request in passes over its words, each consuming what it understood: intent
("tell me about", "forget that"), item references ("like Toy Story", "I liked Heat and Se7en"),
comparatives ("older than Heat"), periods ("90s", "after 2010"), ranking words ("top rated"), counts,
genre and topic phrases with their negations ("no horror"), typos of genre words; what is left is kept
as words for text similarity. It never raises: anything it cannot read ends up in ``leftover`` or
``warnings``.
"""

from __future__ import annotations

import difflib
import re

from recpilot.types import HardConstraints, ItemId, NumericRange
from recpilot.understanding.intents import is_greeting, read_intent
from recpilot.understanding.lexicon import phrases, word_set
from recpilot.understanding.periods import Period, find_periods
from recpilot.understanding.references import ReferenceFinder
from recpilot.understanding.request import (
    AttributeChoice,
    ItemReference,
    ParsedRequest,
    PreferenceNote,
    RankingChoice,
    Refinement,
)
from recpilot.understanding.tokens import FILLER, NEGATION_CUES, STOPWORDS, Word, negation_scope, tokenize
from recpilot.understanding.vocabulary import (
    GENRE_ATTRIBUTE,
    YEAR_ATTRIBUTE,
    CatalogVocabulary,
    first_word_lengths,
    pretty_title,
)

_REFINEMENT_CUES = word_set(
    "and but also plus only now same more less instead actually ok okay maybe without no not except "
    "just older newer earlier later what how make"
)
_MORE = re.compile(
    r"^(?:more|more please|some more|others|other ones|another|another one|next|show me more|"
    r"more like (?:these|those|that|this)|different ones|give me more|any more|anything else)$"
)

# -- ranking words and counts ---------------------------------------------------------------------------

_RANKING: dict[str, RankingChoice] = {
    **dict.fromkeys(
        phrases(
            "top rated | highest rated | best rated | highly rated | well rated | best | greatest | "
            "acclaimed | "
            "critically acclaimed | masterpiece | masterpieces | must see | must watch | of all time | "
            "award "
            "winning | oscar winning | finest | highest rating | best reviewed | well reviewed"
        ),
        "top_rated",
    ),
    **dict.fromkeys(
        phrases(
            "popular | most popular | blockbuster | blockbusters | famous | well known | mainstream | "
            "crowd "
            "pleaser | crowd pleasers | hits | big hits | most watched | trending | everyone has seen"
        ),
        "popularity",
    ),
    **dict.fromkeys(
        phrases("recently watched | watched recently | watched lately | my recent watches"), "sequential"
    ),
    **dict.fromkeys(phrases("for me | my taste | personalized | personalised"), "collaborative"),
}
_RANKING_STARTS = first_word_lengths(_RANKING)
_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "couple": 2,
    "few": 3,
    "handful": 5,
    "dozen": 12,
}
_COUNT_NOUNS = word_set(
    "movie movies film films picks recommendations suggestions options titles ideas ones things more"
)
_COUNT_SKIP = word_set("more good great new old other different random of")
_MAX_COUNT = 50
#: Words of a message the parser reads; requests are short, and the rest of a long text is ignored.
MAX_WORDS = 300
_TYPO_MIN_LENGTH = 5
_TYPO_MAX_WORDS = 40
# Words joining two genres into one list ("comedies or dramas") rather than a combination.
_LIST_WORDS = word_set("or and either nor maybe perhaps")
# "like Heat but newer": relative to the item referred to.
_RELATIVE = {"older": "before", "earlier": "before", "newer": "after", "later": "after", "recent": "after"}


def parse_request(message: str, vocabulary: CatalogVocabulary) -> ParsedRequest:
    """Understand one message against a catalog's vocabulary (its first :data:`MAX_WORDS` words)."""
    words = tokenize(message, limit=MAX_WORDS + 1)
    truncated = len(words) > MAX_WORDS
    words = words[:MAX_WORDS]
    low = " ".join(w.key for w in words)
    intent = read_intent(
        message, words, vocabulary, lambda rest: _Parse(rest, vocabulary, statements_only=True).run()
    )
    if intent is not None:
        return intent
    parsed = _Parse(words, vocabulary).run()
    if not parsed.understood() and (is_greeting(low) or not words):
        return ParsedRequest(intent="chitchat")
    parsed.refinement = _refines(words, low, parsed)
    if truncated:
        parsed.warnings.append(f"I only read the first {MAX_WORDS} words of your message")
    return parsed


def _refines(words: list[Word], low: str, parsed: ParsedRequest) -> Refinement:
    """How the message relates to the previous request ("and no horror", "what about the 80s?")."""
    if _MORE.match(low):
        return "more"
    if not words or words[0].key not in _REFINEMENT_CUES:
        return "new"
    if low.startswith(("what about", "how about", "instead")):
        return "switch"
    if words[0].key in ("and", "also", "but", "plus"):
        return "adjust"
    return "new" if parsed.constraints.attributes or parsed.liked or parsed.topics else "adjust"


def refine(previous: ParsedRequest, current: ParsedRequest) -> ParsedRequest:
    """The previous request adjusted by the current one (see :attr:`ParsedRequest.refinement`).

    What the current message states wins; the rest of the previous request stays: new excluded genres
    and items add up, a new period or ranking replaces the old one, and a new genre is added ("and
    funny") or, after "what about", replaces the old ones.
    """
    if current.refinement == "more":
        return previous.model_copy(update={"refinement": "more", "count": current.count or previous.count})
    old, new = previous.constraints, current.constraints
    groups = current.required_groups()
    if not groups or current.refinement != "switch":
        groups = [*previous.required_groups(), *[g for g in groups if g not in previous.required_groups()]]
    wanted = {v for g in groups for v in g.values}
    excluded = {
        name: [v for v in dict.fromkeys([*old.exclude_attributes.get(name, []), *values]) if v not in wanted]
        for name, values in {**old.exclude_attributes, **new.exclude_attributes}.items()
    }
    switched = current.refinement == "switch"
    constraints = HardConstraints(
        attributes={groups[0].attribute: groups[0].values} if groups else {},
        exclude_attributes={k: v for k, v in excluded.items() if v},
        numeric={**old.numeric, **new.numeric},
        exclude_items=list(dict.fromkeys([*old.exclude_items, *new.exclude_items])),
    )
    return current.model_copy(
        update={
            "constraints": constraints,
            "also_required": groups[1:],
            "liked": current.liked if switched and current.liked else [*previous.liked, *current.liked],
            "disliked": [*previous.disliked, *current.disliked],
            "ranking": current.ranking or previous.ranking,
            "count": current.count or previous.count,
            "topics": current.topics or previous.topics,
            "description": current.description or previous.description,
            "period": current.period if new.numeric else previous.period,
        }
    )


class _Parse:
    """One pass-by-pass reading of a request's words (see the module docstring)."""

    def __init__(
        self, words: list[Word], vocabulary: CatalogVocabulary, *, statements_only: bool = False
    ) -> None:
        self.words = words
        self.vocabulary = vocabulary
        self.statements_only = statements_only
        self.negated = negation_scope(words, vocabulary.genre_keys)
        self.result = ParsedRequest()
        self.excluded_tags: dict[str, list[str]] = {}

    def run(self) -> ParsedRequest:
        """Every pass in order; the words each pass used are invisible to the next."""
        result = self.result
        finder = ReferenceFinder(self.words, self.vocabulary, self.negated)
        found = finder.find()
        result.liked, result.disliked, result.unresolved = found.liked, found.disliked, found.unresolved
        result.remember.extend(found.remember)
        exclude: list[ItemId] = [r.item_id for r in [*found.disliked, *found.seen] if r.item_id is not None]
        found.periods.extend(self._relative_periods(found.liked))
        periods, skipped = find_periods(self.words, self.vocabulary.years)
        year_min = max((p.min for p in [*found.periods, *periods] if p.min is not None), default=None)
        year_max = min((p.max for p in [*found.periods, *periods] if p.max is not None), default=None)
        if found.periods:
            result.period = "; ".join(p.text for p in found.periods)
        result.warnings.extend(f"I can't exclude a period like {s!r} yet" for s in skipped)
        self._ranking()
        self._count()
        genres, excluded, topics = self._senses(finder.stances)
        self._typos(genres, excluded)
        self._leftover()
        result.topics = [t for t, _ in topics]
        description = [w for _, words in topics for w in words.split()] + result.leftover.split()
        result.description = " ".join(dict.fromkeys(description))
        groups = self._group(genres)
        excluded_values = [v for v in dict.fromkeys(excluded) if not any(v in g for g in groups)]
        numeric: dict[str, NumericRange] = {}
        if (year_min, year_max) != (None, None) and self.vocabulary.years is not None:
            if year_min is not None and year_max is not None and year_min > year_max:
                result.warnings.append("the periods you gave do not overlap")
            else:
                numeric[YEAR_ATTRIBUTE] = NumericRange(min=year_min, max=year_max)
        result.constraints = HardConstraints(
            attributes={GENRE_ATTRIBUTE: groups[0]} if groups else {},
            exclude_attributes={
                **({GENRE_ATTRIBUTE: excluded_values} if excluded_values else {}),
                **{name: list(dict.fromkeys(values)) for name, values in self.excluded_tags.items()},
            },
            numeric=numeric,
            exclude_items=list(dict.fromkeys(exclude)),
        )
        result.also_required = [AttributeChoice(attribute=GENRE_ATTRIBUTE, values=g) for g in groups[1:]]
        return result

    def _relative_periods(self, liked: list[ItemReference]) -> list[Period]:
        """ "like The Matrix but older": older or newer than the item referred to."""
        anchor = next((r for r in liked if r.year is not None), None)
        if anchor is None or anchor.year is None:
            return []
        periods = []
        for index, word in enumerate(self.words):
            following = self.words[index + 1].key if index + 1 < len(self.words) else ""
            if word.used or word.key not in _RELATIVE or following == "than":
                continue
            word.used = True
            title = pretty_title(anchor.title or anchor.text)
            if _RELATIVE[word.key] == "before":
                periods.append(Period(None, anchor.year - 1, f"older than {title}"))
            else:
                periods.append(Period(anchor.year + 1, None, f"newer than {title}"))
        return periods

    def _phrases(self, table: dict[str, RankingChoice] | None = None) -> list[tuple[int, int, str]]:
        """Unused phrases of ``table`` (or of the vocabulary's senses) as ``(start, length, key)``.

        At each position the longest phrase wins.
        """
        words, found = self.words, []
        starts = _RANKING_STARTS if table is not None else self.vocabulary.phrase_starts
        index = 0
        while index < len(words):
            hit = None
            for length in range(min(starts.get(words[index].key, 0), len(words) - index), 0, -1):
                span = words[index : index + length]
                if any(w.used for w in span) or any(w.stop for w in span[1:]):
                    continue
                key = " ".join(w.key for w in span)
                if (key in table) if table is not None else (self.vocabulary.sense(key) is not None):
                    hit = (index, length, key)
                    break
            if hit:
                found.append(hit)
                index += hit[1]
            else:
                index += 1
        return found

    def _ranking(self) -> None:
        if self.statements_only:
            return
        for index, length, key in self._phrases(_RANKING):
            if self.negated[index]:
                continue
            self.result.ranking = _RANKING[key]
            for word in self.words[index : index + length]:
                word.used = True

    def _count(self) -> None:
        words = self.words
        for index, word in enumerate(words):
            if word.used or self.statements_only:
                continue
            number = int(word.key) if word.key.isdigit() and len(word.key) <= 2 else _NUMBERS.get(word.key)
            if number is None or not 0 < number <= _MAX_COUNT:
                continue
            ahead = index + 1
            while ahead < len(words) and words[ahead].key in _COUNT_SKIP:
                ahead += 1
            noun = words[ahead].key if ahead < len(words) else ""
            sense = self.vocabulary.sense(noun)
            previous = words[index - 1].key if index else ""
            if noun in _COUNT_NOUNS or (sense is not None and sense.values) or previous == "top":
                self.result.count = number
                word.used = True
                if previous == "top":
                    words[index - 1].used = True

    def _senses(
        self, stances: dict[int, int]
    ) -> tuple[list[tuple[int, int, tuple[str, ...]]], list[str], list[tuple[str, str]]]:
        """Genre mentions ``(start, stop, values)``, excluded genres and topics ``(phrase, words)``."""
        genres: list[tuple[int, int, tuple[str, ...]]] = []
        excluded: list[str] = []
        topics: list[tuple[str, str]] = []
        for index, length, key in self._phrases():
            sense = self.vocabulary.sense(key)
            assert sense is not None
            span = self.words[index : index + length]
            for word in span:
                word.used = True
            values = tuple(v for a, v in sense.values if a == GENRE_ATTRIBUTE)
            stance = stances.get(index, 0)
            if self.negated[index]:
                excluded.extend(values)
                if sense.tag is not None and not values:
                    self.excluded_tags.setdefault(sense.tag[0], []).append(sense.tag[1])
                elif sense.topic and not values:
                    self.result.warnings.append(
                        f"I can't exclude a topic like {' '.join(w.text for w in span)!r} yet"
                    )
                for value in values if stance < 0 else ():
                    self.result.remember.append(
                        PreferenceNote(
                            kind="dislike_attribute", value=f"{GENRE_ATTRIBUTE}={value}", label=value
                        )
                    )
                continue
            if values:
                genres.append((index, index + length, values))
                for value in values if stance > 0 else ():
                    self.result.remember.append(
                        PreferenceNote(kind="like_attribute", value=f"{GENRE_ATTRIBUTE}={value}", label=value)
                    )
            if sense.topic:
                topics.append((" ".join(w.text for w in span), sense.topic))
        return genres, excluded, topics

    def _typos(self, genres: list[tuple[int, int, tuple[str, ...]]], excluded: list[str]) -> None:
        """Genre words typed with a typo ("comdy", "documentry")."""
        keys = self.vocabulary.typo_targets
        # Each distinct word is compared once, and only the first few: a long message stays fast.
        corrected: dict[str, str | None] = {}
        for index, word in enumerate(self.words):
            if word.used or len(word.key) < _TYPO_MIN_LENGTH or word.key in STOPWORDS or word.key in FILLER:
                continue
            if word.key not in corrected:
                if len(corrected) >= _TYPO_MAX_WORDS:
                    continue
                close = difflib.get_close_matches(word.key, keys, n=1, cutoff=0.8)
                corrected[word.key] = close[0] if close else None
            target = corrected[word.key]
            if target is None:
                continue
            sense = self.vocabulary.sense(target)
            assert sense is not None
            values = tuple(v for a, v in sense.values if a == GENRE_ATTRIBUTE)
            word.used = True
            if self.negated[index]:
                excluded.extend(values)
            else:
                genres.append((index, index + 1, values))
            genres.sort()

    def _group(self, mentions: list[tuple[int, int, tuple[str, ...]]]) -> list[list[str]]:
        """Genre mentions as groups an item must all match; a list ("comedies or dramas", "action,
        adventure") is one group of alternatives, separate mentions ("a funny horror") are not."""
        groups: list[list[str]] = []
        previous_stop: int | None = None
        for start, stop, values in sorted(mentions):
            between = self.words[previous_stop:start] if previous_stop is not None else []
            listed = (
                previous_stop is not None
                and all(w.key in _LIST_WORDS for w in between)
                and (bool(between) or self.words[start].comma)
            )
            if listed and len(values) == 1 and groups:
                groups[-1] = list(dict.fromkeys([*groups[-1], values[0]]))
            else:
                groups.extend([v] for v in values if [v] not in groups)
            previous_stop = stop
        return groups

    def _leftover(self) -> None:
        kept = []
        for index, word in enumerate(self.words):
            if word.used or word.key in STOPWORDS or word.key in FILLER or word.key in NEGATION_CUES:
                continue
            if self.negated[index]:
                self.result.warnings.append(f"I can't exclude {word.text!r} yet")
                continue
            if len(word.key) > 1 and not word.key.isdigit():
                kept.append(word.key)
        self.result.leftover = " ".join(dict.fromkeys(kept))
