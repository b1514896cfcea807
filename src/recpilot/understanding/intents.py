"""Requests that are not recommendations: refusals, profile questions, forget, remember, item details.

Each is recognised by the shape of the whole message ("forget that ...", "tell me about ..."); what
follows the opening words is read with the same reference and statement parsing as a recommendation.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from recpilot.understanding.lexicon import word_set
from recpilot.understanding.references import ReferenceFinder
from recpilot.understanding.request import ItemReference, ParsedRequest, PreferenceNote
from recpilot.understanding.tokens import FILLER, Word
from recpilot.understanding.vocabulary import CatalogVocabulary

#: Reads the statements of taste in some words ("I like Heat", "I hate musicals").
StatementReader = Callable[[list[Word]], ParsedRequest]


def _any(*options: str) -> str:
    """A regex group matching any of ``options``."""
    return "(?:" + "|".join(options) + ")"


_INJECTION = re.compile(
    _any(
        r"\b(?:ignore|disregard|override|bypass)\b.{0,40}\b"
        r"(?:instructions?|prompts?|rules|guidelines|directives|guardrails)\b",
        r"\bsystem prompt\b",
        r"\bjailbreak",
        r"\b(?:developer|dan) mode\b",
        r"\byou are now\b",
        r"\bpretend (?:to be|you are)\b",
        r"\b(?:reveal|print|show|repeat|output|leak) (?:me )?(?:your|the) (?:system |hidden |initial )?"
        r"(?:prompt|instructions)\b",
        r"\b(?:password|api key|apikey|credentials|secret key|access token)s?\b",
    )
)
# Matched on the raw message: SQL, markup and template injection are recognised by their punctuation.
_CODE = re.compile(
    _any(
        r"\b(?:drop|truncate|alter)\s+table\b",
        r"\bdelete\s+from\b",
        r"\binsert\s+into\b",
        r"\bunion\s+(?:all\s+)?select\b",
        r"\bselect\s+\*",
        r"\bselect\b[^.?!]{0,80}\bfrom\b[^.?!]{0,80}\bwhere\b",
        r"'\s*or\s+'?\d+'?\s*=\s*'?\d+",
        r";\s*--",
        r"<\s*script",
        r"\$\{",
        r"\{\{[^}]*\}\}",
        r"\bexec(?:ute)?\s*\(",
        r"\brm\s+-rf\b",
        r"\bsleep\s*\(\s*\d+\s*\)",
        r"\bxp_cmdshell\b",
    ),
    re.IGNORECASE,
)
_GREETING = re.compile(
    "^"
    + _any(
        r"hi|hello|hey|yo|howdy|hiya|greetings|good (?:morning|afternoon|evening)",
        r"thanks?(?: you)?(?: so much)?|thx|ty|cheers|ok|okay|cool|great|nice|awesome|bye|goodbye|see you",
        r"how are you(?: doing)?|whats up|sup|who are you|what are you|what can you do|help|what do you do",
        r"how does this work|tell me about yourself",
    )
    + r"(?: there| again| bot| assistant)?$"
)
_PROFILE = re.compile(
    r"\b"
    + _any(
        r"what do you (?:know|remember|think you know|have) (?:about|on|of) me",
        r"what (?:have|did) i (?:told|tell) you",
        r"(?:show|see|view) (?:me )?my (?:profile|preferences)",
        r"what (?:are|is) my (?:profile|preferences|taste)",
        r"my profile|who am i|what do i (?:like|enjoy)|what do you know i like",
    )
    + r"\b"
)
_FORGET = re.compile(
    r"^(?:please |can you |could you |now )*"
    + _any("forget", "remove", "delete", "erase", "clear", "unremember", "stop remembering")
    + r"\b(?: about)?(?: the fact)?(?: that)?(?P<rest>.*)$"
)
_FORGET_ALL = re.compile(
    "^"
    + _any(
        r"everything|all|it all|all of it|me|my preferences please",
        r"all my (?:preferences|data|likes|dislikes)",
        r"my (?:profile|preferences|data|history|likes|dislikes|memory)",
        r"what you know(?: about me)?",
        r"everything (?:about me|you know)(?: about me)?",
    )
    + "?$"
)
_REMEMBER = re.compile(
    r"^(?:please |can you |could you )*"
    + _any("remember", "note", "keep in mind", "dont forget", "make a note", "take note")
    + r"(?: of)?(?: that)?\b(?P<rest>.*)$"
)
_DETAILS = (
    re.compile(
        r"^(?:can you |could you |please )*"
        + _any(
            r"tell me (?:a bit |a little |more )?about",
            r"(?:some )?info(?:rmation)? (?:on|about)",
            r"details (?:on|about|of|for)",
            r"describe|have you (?:heard of|seen)|do you know|what do you know about",
            r"what genre is|what kind of (?:movie|film) is|how (?:good|popular|old) is",
            r"who (?:directed|made|stars in|is in|acted in)",
            r"what is|whats|what was",
        )
        + r" (?P<t>.+)$"
    ),
    re.compile(
        r"^(?:when (?:was|did|is)|what year (?:was|did|is)) (?P<t>.+?) "
        + _any("come out", "came out", "released", "made", "release", "out", "from")
        + "$"
    ),
    re.compile(
        r"^is (?P<t>.+?) "
        + _any(
            r"any good|good|worth (?:it|watching|a watch|seeing)|a good (?:movie|film)|recommended|for kids"
        )
        + "$"
    ),
)
_SUBJECT_FILLER = word_set("the movie film movies films about please called named")


def read_intent(
    message: str, words: list[Word], vocabulary: CatalogVocabulary, read_statements: StatementReader
) -> ParsedRequest | None:
    """The request when the message is a refusal case, a profile question, a forget, remember or
    details request; None for a recommendation request.

    Args:
        message: The message as typed (code is looked for in it).
        words: Its words.
        vocabulary: The catalog vocabulary.
        read_statements: Parses statements of taste in the words after "forget that" / "remember".
    """
    low = " ".join(w.key for w in words)
    if _CODE.search(message) or _INJECTION.search(low):
        return ParsedRequest(intent="refuse", refusal="instructions" if _INJECTION.search(low) else "code")
    forget = _FORGET.match(low)
    if forget:
        return _forget(_words_from(words, low, forget.start("rest")), vocabulary, read_statements)
    if _PROFILE.search(low):
        return ParsedRequest(intent="profile")
    remember = _REMEMBER.match(low)
    if remember:
        return _remember(_words_from(words, low, remember.start("rest")), vocabulary, read_statements)
    for pattern in _DETAILS:
        match = pattern.match(low)
        if match:
            details = _details(_words_span(words, low, match.start("t"), match.end("t")), vocabulary)
            if details is not None:
                return details
    return None


def is_greeting(low: str) -> bool:
    """Whether the (normalised) message is small talk: "hi", "thanks", "what can you do"."""
    return bool(_GREETING.match(low))


def _words_from(words: list[Word], low: str, offset: int) -> list[Word]:
    return _words_span(words, low, offset, len(low))


def _words_span(words: list[Word], low: str, start: int, stop: int) -> list[Word]:
    kept: list[Word] = []
    position = 0
    for word in words:
        if start <= position < stop:
            kept.append(word)
        position += len(word.key) + 1
    return kept


def _forget(
    rest: list[Word], vocabulary: CatalogVocabulary, read_statements: StatementReader
) -> ParsedRequest:
    text = " ".join(w.key for w in rest)
    if _FORGET_ALL.match(text):
        return ParsedRequest(intent="forget", forget_all=True)
    parsed = read_statements(rest)
    notes = [*parsed.remember]
    if not notes:
        subjects = ReferenceFinder(rest, vocabulary).bare_titles()
        notes = [
            PreferenceNote(kind="like_item", value=str(s.item_id), label=s.title or s.text) for s in subjects
        ]
    if not notes and text:
        notes = [
            PreferenceNote(
                kind="constraint", value=" ".join(w.text for w in rest), label=" ".join(w.text for w in rest)
            )
        ]
    return ParsedRequest(intent="forget", forget=notes, unresolved=parsed.unresolved)


def _remember(
    rest: list[Word], vocabulary: CatalogVocabulary, read_statements: StatementReader
) -> ParsedRequest:
    parsed = read_statements(rest)
    notes = [*parsed.remember]
    if not notes:
        subjects = ReferenceFinder(rest, vocabulary).bare_titles()
        notes = [
            PreferenceNote(kind="like_item", value=str(s.item_id), label=s.title or s.text) for s in subjects
        ]
    text = " ".join(w.text for w in rest).strip()
    if not notes and text:
        notes = [PreferenceNote(kind="constraint", value=text[:200], label=text[:200])]
    return ParsedRequest(intent="remember", remember=notes, unresolved=parsed.unresolved)


def _details(target: list[Word], vocabulary: CatalogVocabulary) -> ParsedRequest | None:
    """A details request about one title, or None when the target is a request ("what is a good comedy")."""
    while target and target[0].key in _SUBJECT_FILLER:
        target = target[1:]
    while target and target[-1].key in _SUBJECT_FILLER:
        target = target[:-1]
    if not target or any(w.key in ("me", "yourself", "you") for w in target):
        return None
    subjects = ReferenceFinder(target, vocabulary).bare_titles(whole=True)
    if subjects:
        return ParsedRequest(intent="details", subjects=subjects)
    keys = [w.key for w in target]
    if len(keys) > 8 or any(vocabulary.sense(k) or k in FILLER for k in keys):
        return None
    text = " ".join(w.text for w in target)
    return ParsedRequest(intent="details", subjects=[ItemReference(text=text)], unresolved=[text])


def refusal(message: str) -> bool:
    """Whether the message is code or an attempt to change the instructions (refused, never an act)."""
    low = " ".join(re.findall(r"[^\W_]+", message.lower().replace("'", "")))
    return bool(_CODE.search(message) or _INJECTION.search(low))
