"""Words of a request: tokenising, clause boundaries and the reach of a negation ("no horror or gore").

The parser works on a list of :class:`Word` (punctuation folded into the words it separates), so phrase,
title and period matching all see the same normalised keys, and every step can mark the words it used.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from recpilot.understanding.lexicon import normalise_text, word_set

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[^\w\s]")
_HARD_STOPS = frozenset(".;!?")
_SOFT_STOPS = frozenset(",")

# Function words of a few other languages, so a request in them leaves no junk for text matching.
_FOREIGN = word_set(
    "de del la las el los un una unos unas y o en con por para que quiero busco algo le les des du et "
    "une je veux voudrais quelque chose ich mochte einen eine ein und mit von etwas il lo gli uno "
    "vorrei qualcosa"
)
#: Words that carry no request meaning of their own.
STOPWORDS = (
    word_set(
        "a an the and or of to in on at for with by from about as is are was were be been being it its this "
        "that these those some any me my i im ive id we us our you your yours he she they them their there "
        "here what which who whom whose when where why how would could should can will shall may might must "
        "do does did done have has had having so very really just also too more most much many lot lots bit "
        "quite rather maybe perhaps please thanks thank hey hi hello ok okay yes yeah well oh um uh then "
        "than but if into onto over under up down out off again one ones kind sort type something anything "
        "everything stuff thing things"
    )
    | _FOREIGN
)
#: Words of the recommendation domain that are not constraints ("recommend me a good movie").
FILLER = word_set(
    "real genuinely "
    "day days rainy sunny sunday saturday friday afternoon morning couch popcorn "
    "movie movies film films flick flicks cinema title titles picture pictures watch watching watched "
    "see seeing recommend recommendation recommendations suggest suggestion suggestions show give find "
    "get want wanna need looking look search pick picks options ideas idea list good great nice decent "
    "fine tonight today weekend evening night mood feel feeling like love enjoy time now let lets go "
    "which whatever tell know think im into prefer preferably something else another other others new "
    "please could would liked loved enjoyed adored similar same vibe vibes style vein fan fans favorite "
    "favourite recommended instead"
)
#: Words that open a negation ("no", "without", "hate").
NEGATION_CUES = word_set(
    "no not nothing without except excluding exclude avoid skip never non nor neither none hate hated "
    "hates dislike disliked dislikes dont didnt doesnt isnt arent wasnt cant cannot couldnt wont minus "
    "detest despise loathe unlike besides"
)
# Words after which a negation no longer reaches ("no horror but something funny").
_SCOPE_BREAKERS = word_set(
    "but though although however instead yet rather i we want wanna give show please just only "
    "something anything preferably ideally maybe"
)
# "don't mind horror" is not a negation.
_NOT_NEGATED_AFTER = word_set("mind matter only just care")


@dataclass
class Word:
    """One word of the request.

    Attributes:
        text: As typed.
        key: Normalised (lower case, no accents or apostrophes).
        start: Character offset in the message.
        stop: The punctuation just before it ends a sentence (``.;!?``).
        comma: A comma comes just before it.
        used: A parsing step has consumed it.
    """

    text: str
    key: str
    start: int
    stop: bool = False
    comma: bool = False
    used: bool = False

    @property
    def capitalised(self) -> bool:
        """Typed with a capital first letter (a hint that a title is meant)."""
        return self.text[:1].isupper()


def tokenize(message: str, limit: int | None = None) -> list[Word]:
    """Cut a message into words (at most ``limit``); sentence punctuation and commas flag the next word.

    ``&`` becomes "and", a dash between two numbers "to" ("1990-1995"), ``+`` after a number "onwards"
    ("2010+"), and pictographs (emoji) are words of their own.
    """
    words: list[Word] = []
    stop = comma = False
    raw = []
    for match in _TOKEN.finditer(message):
        raw.append(match)
        if limit is not None and len(raw) > 2 * limit:
            break  # punctuation may take half the tokens; words beyond the limit are cut below
    for position, match in enumerate(raw):
        token = match.group()
        if len(token) == 1 and not token.isalnum():
            previous = words[-1].key if words else ""
            following = raw[position + 1].group() if position + 1 < len(raw) else ""
            if token in _HARD_STOPS:
                stop = True
            elif token in _SOFT_STOPS:
                comma = True
            elif token == "&":
                words.append(Word(token, "and", match.start(), stop, comma))
                stop = comma = False
            elif token in "-–" and previous.isdigit() and following.isdigit():
                words.append(Word(token, "to", match.start(), stop, comma))
                stop = comma = False
            elif token == "+" and previous.isdigit():
                words.append(Word(token, "onwards", match.start(), stop, comma))
                stop = comma = False
            elif token == "/":
                words.append(Word(token, "or", match.start(), stop, comma))
                stop = comma = False
            elif unicodedata.category(token) == "So":
                words.append(Word(token, token, match.start(), stop, comma))
                stop = comma = False
            continue
        key = " ".join(re.findall(r"[^\W_]+", normalise_text(token)))
        if key:
            words.append(Word(token, key, match.start(), stop, comma))
            stop = comma = False
    return words[:limit] if limit is not None else words


def negation_scope(words: list[Word], is_listed: frozenset[str] = frozenset()) -> list[bool]:
    """For each word, whether a negation reaches it.

    A negation starts after a cue ("no", "not", "without", "hate"...) and reaches until the end of the
    clause: sentence punctuation, a comma not continuing a list, or a word such as "but" or "instead".

    Args:
        words: The request's words.
        is_listed: Keys that continue a list after a comma ("no horror, gore or slashers").
    """
    negated = [False] * len(words)
    active = False
    for index, word in enumerate(words):
        following = words[index + 1].key if index + 1 < len(words) else ""
        if word.stop or (word.comma and word.key not in is_listed):
            active = False
        if word.key in _SCOPE_BREAKERS and following not in ("not", "no"):
            active = False
        previous = words[index - 1].key if index else ""
        # A cue itself keeps the state before it, so a phrase it starts ("non-fiction") is not negated.
        negated[index] = active
        if (
            (word.key in NEGATION_CUES and following not in _NOT_NEGATED_AFTER)
            or (word.key == "but" and previous == "anything")
            or (word.key == "than" and previous == "other")
        ):
            active = True
    return negated


def clause_end(words: list[Word], start: int) -> int:
    """The index just past the clause that ``start`` is in (the next sentence stop)."""
    for index in range(start + 1, len(words)):
        if words[index].stop:
            return index
    return len(words)
