"""Natural-language feed commands -> typed :class:`~recpilot.memory.FeedRule` records.

A message is a feed command only when its whole shape is one: an opening that states a standing
instruction ("no more", "stop recommending", "show me more", "only ... for today"), a target the
catalog can express (a genre or tag, sequels, a year range), and an optional duration. A request such
as "comedies, no horror" is not a command; it stays a one-off constraint of that request.

Durations (UTC): "today"/"tonight" end at the next midnight, "this week" lasts 7 days, "this weekend"
3 days, "this month" 30 days, "for N hours/days/weeks/months" that long; "until I say otherwise",
"from now on", "anymore", no duration or one longer than 100 years keep the rule until it is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.memory.feed_rules import (
    MAX_RULE_SECONDS,
    AttributeTarget,
    FeedEffect,
    FeedRule,
    FeedTarget,
    NumericTarget,
    TitlePatternTarget,
)

_DAY = 86_400.0
_UNITS = {"hour": 3_600.0, "day": _DAY, "week": 7 * _DAY, "month": 30 * _DAY}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
_FOREVER = re.compile(
    r"\b(?:until i say otherwise|until further notice|from now on|anymore|any more|ever again|forever|"
    r"always|for good|permanently)\b"
)
_DURATION = re.compile(
    r"\b(?:for |during )?(?:(?P<day>today|tonight|this evening)|this (?P<span>week|weekend|month)|"
    r"(?:for |during )?(?:the )?(?:next |coming )?(?P<n>\d+|a|an|one|two|three|four|five|six|ten) "
    r"(?P<unit>hour|day|week|month)s?)\b"
)
_EXCLUDE = re.compile(
    r"^(?:please |and |ok |okay )*(?P<op>no more|stop (?:recommending|showing|suggesting)(?: me)?|"
    r"(?:do not|dont|don't) (?:recommend|show|suggest)(?: me)?(?: any)?(?: more)?|never (?:recommend|show)"
    r"(?: me)?|enough(?: with)?|hide|block|no)\b(?P<rest>.*)$"
)
_BOOST = re.compile(
    r"^(?:please |and |ok |okay )*(?P<op>(?:show|give|recommend)(?: me)? more|more|i want more|"
    r"prioriti[sz]e|boost|favou?r)\b(?P<rest>.*)$"
)
_REQUIRE = re.compile(r"^(?:please |and |ok |okay )*(?P<op>only|just|nothing but)\b(?P<rest>.*)$")
_NOUNS = re.compile(r"\b(?:movies?|films?|titles?|items?|stuff|things|ones|any|the|of|please|me)\b")
_SEQUEL_WORDS = re.compile(r"^(?:sequels?|follow ups?|follow-ups?|part twos?|franchise sequels?)$")
_AFTER = re.compile(r"^(?:released |made |from )?(?:after|since|newer than|from) (?P<y>\d{4})$")
_BEFORE = re.compile(r"^(?:released |made |from )?(?:before|older than|until) (?P<y>\d{4})$")
_BETWEEN = re.compile(r"^(?:released |made |from )?between (?P<a>\d{4}) and (?P<b>\d{4})$")
_DECADE = re.compile(r"^(?:from )?(?:the )?(?P<c>19|20)?(?P<d>\d)0s$")
_LIST_RULES = re.compile(
    r"^(?:what|which|show|list|see|view)(?: me)?(?: are| is)?(?: all)? my (?:feed )?(?:rules|filters|feed "
    r"commands|commands)\b|^(?:list|show)(?: me)? (?:the |my )?(?:feed )?rules$|^my (?:feed )?rules$"
)
_REMOVE_ID = re.compile(
    r"^(?:please )?(?:remove|delete|drop|cancel|undo|clear) (?:feed )?(?:rule|filter) (?:#|number |no )?"
    r"(?P<ids>\d+(?:(?:,| and| ,) ?#?\d+)*)$"
)
_ALLOW = re.compile(
    r"^(?:please )?(?:allow|show(?: me)?|recommend|bring back|let me see|ok to show)(?: me)? (?P<rest>.+?)"
    r" again$|^(?:i am|i'?m) ok with (?P<rest2>.+?) again$"
)
#: "remove my romance rule", "delete the no-horror filter", "cancel my rule about sequels": a rule named
#: by its target (the words "no"/"exclude"/"only" of the rule's own wording may stay in).
_REMOVE_TARGET = re.compile(
    r"^(?:please )?(?:remove|delete|drop|cancel|lift|clear|get rid of|turn off) (?:my |the |that )?"
    r"(?:(?:no|exclude|only|more)[ -])?(?P<rest>.+?)[ -](?:feed )?(?:rule|filter)s?$"
    r"|^(?:please )?(?:remove|delete|drop|cancel|lift|clear|get rid of|turn off) (?:my |the |that )?"
    r"(?:feed )?(?:rule|filter)s? (?:about|on|for|against|excluding|that excludes) "
    r"(?:(?:no|the) )?(?P<rest2>.+)$"
)
#: "add a rule: no horror", "new rule: only comedies": the user says outright that this is a standing rule.
_RULE_OPENING = re.compile(
    r"^(?:please )?(?:(?:add|make|create|set(?: up)?|save) (?:me )?(?:a |an |this )?(?:new )?(?:feed )?"
    r"(?:rule|filter)|new (?:feed )?(?:rule|filter))(?: that says| saying)?:? "
)
_SYNONYMS = {
    "sci fi": "sci-fi",
    "scifi": "sci-fi",
    "science fiction": "sci-fi",
    "docs": "documentary",
    "docos": "documentary",
    "cartoons": "animation",
    "animated": "animation",
    "kids": "children",
    "romantic": "romance",
    "scary": "horror",
    "funny": "comedy",
    "comedies": "comedy",
    "musicals": "musical",
    "war films": "war",
}


@dataclass(frozen=True)
class FeedVocabulary:
    """What feed commands can name in one catalog.

    Attributes:
        values: Attribute -> lower-cased value -> the catalog's spelling (``genres``, then tags).
        numeric: Numeric attributes (``year``, ``runtime``...).
    """

    values: dict[str, dict[str, str]] = field(default_factory=dict)
    numeric: frozenset[str] = frozenset()

    @classmethod
    def from_dataset(
        cls, dataset: Dataset, *, attributes: tuple[str, ...] = ("genres", "tags")
    ) -> FeedVocabulary:
        """Read the catalog's attribute values and numeric columns."""
        frame = dataset.catalog
        values: dict[str, dict[str, str]] = {}
        for name in attributes:
            if name not in frame.columns:
                continue
            known: dict[str, str] = {}
            for cell in frame[name]:
                for value in cell if isinstance(cell, list | tuple) else [cell]:
                    if isinstance(value, str) and value:
                        known.setdefault(value.lower(), value)
            values[name] = known
        numeric = frozenset(
            str(c)
            for c in frame.columns
            if c != Columns.ITEM
            and str(frame[c].dtype).lower().startswith(("int", "float"))
            and not str(c).endswith("_id")
        )
        return cls(values=values, numeric=numeric)

    def attribute(self, phrase: str) -> AttributeTarget | None:
        """The ``field=value`` a phrase names ("documentaries" -> genres=Documentary), if any."""
        key = phrase.strip().lower()
        candidates = [key, _SYNONYMS.get(key, key)]
        for form in list(candidates):
            candidates += [_singular(form), _SYNONYMS.get(_singular(form), "")]
        for name, known in self.values.items():
            for form in candidates:
                if form and form in known:
                    return AttributeTarget(attribute=name, value=known[form])
        return None


@dataclass
class FeedCommand:
    """A parsed feed command.

    Attributes:
        rules: The rules it states (``user_id`` empty: the caller stores them for its user).
        unknown: Target phrases the catalog cannot express ("no anime" in a catalog without anime).
        until: How long the rules last, in words ("until you remove it", "for 7 days").
    """

    rules: list[FeedRule]
    unknown: list[str]
    until: str


@dataclass
class RulesRequest:
    """A request about the user's rules: list them, or remove some by id or by target."""

    action: Literal["list", "remove"]
    ids: list[int] = field(default_factory=list)
    targets: list[FeedTarget] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def parse_duration(text: str, now: float) -> tuple[float | None, str, str]:
    """Find a duration in lower-cased text: ``(expires_at or None, words, text without them)``."""
    match = _DURATION.search(text)
    if match is None:
        forever = _FOREVER.search(text)
        rest = _FOREVER.sub(" ", text) if forever else text
        return None, "until you remove it", _squash(rest)
    rest = _squash(text[: match.start()] + " " + text[match.end() :])
    if match.group("day"):
        today = datetime.fromtimestamp(now, UTC).date()
        midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
        return midnight.timestamp(), "until midnight UTC", rest
    if match.group("span"):
        span = {"week": 7 * _DAY, "weekend": 3 * _DAY, "month": 30 * _DAY}[match.group("span")]
        return now + span, f"for {span / _DAY:g} days", rest
    count = _NUMBER_WORDS.get(match.group("n")) or int(match.group("n"))
    unit = match.group("unit")
    if count > MAX_RULE_SECONDS / _UNITS[unit]:  # no float product: a 400-digit count would overflow
        return None, "until you remove it", rest
    return now + count * _UNITS[unit], f"for {count} {unit}{'s' if count != 1 else ''}", rest


def parse_feed_command(text: str, vocabulary: FeedVocabulary, *, now: float) -> FeedCommand | None:
    """Read a standing instruction ("no more horror this week"), or None when the text is not one.

    Args:
        text: The user's message.
        vocabulary: What the catalog can express (:meth:`FeedVocabulary.from_dataset`).
        now: Unix time the durations start at.
    """
    low = _squash(re.sub(r"[!?.]+$", "", text.lower().replace("’", "'")))
    opening = _RULE_OPENING.match(low)
    if opening is not None:
        low = low[opening.end() :]
    expires, until, body = parse_duration(low, now)
    # A duration, or the words "add a rule", make "no horror" standing rather than a one-off refinement.
    timed = body != low or opening is not None
    for pattern, effect in ((_EXCLUDE, "exclude"), (_BOOST, "boost"), (_REQUIRE, "require")):
        match = pattern.match(body)
        if match is None:
            continue
        # "no horror" or "only comedies" alone are one-off refinements of the current request.
        if match.group("op") in ("no", "only", "just", "hide", "block") and not timed:
            return None
        if match.group("rest").strip().startswith(("like ", "of the", "of that", "of this", "this", "that")):
            return None  # "more like the second one", "no more like this": critiques of what was shown
        targets, unknown = _targets(match.group("rest"), vocabulary)
        if not targets and not unknown:
            return None
        if not targets and effect == "boost" and not timed:
            return None  # "more violent" names no catalog value: a critique, not a command
        rules = [
            FeedRule(
                user_id="",
                effect=_effect(effect),
                target=t,
                text=text.strip(),
                created_at=now,
                expires_at=expires,
            )
            for t in targets
        ]
        return FeedCommand(rules=rules, unknown=unknown, until=until)
    return None


def parse_rules_request(text: str, vocabulary: FeedVocabulary) -> RulesRequest | None:
    """ "what are my rules?" -> list; "remove rule 2" / "allow horror again" -> remove; else None."""
    low = _squash(re.sub(r"[!?.]+$", "", text.lower().replace("’", "'")))
    if _LIST_RULES.search(low):
        return RulesRequest(action="list")
    removed = _REMOVE_ID.match(low)
    if removed:
        return RulesRequest(action="remove", ids=[int(i) for i in re.findall(r"\d+", removed.group("ids"))])
    allowed = _ALLOW.match(low)
    if allowed:
        targets, unknown = _targets(allowed.group("rest") or allowed.group("rest2") or "", vocabulary)
        if targets or unknown:
            return RulesRequest(action="remove", targets=targets, unknown=unknown)
    named = _REMOVE_TARGET.match(low)
    if named:  # only when it names a target: "clear my rules" is no removal of one rule
        targets, unknown = _targets(named.group("rest") or named.group("rest2") or "", vocabulary)
        if targets:
            return RulesRequest(action="remove", targets=targets, unknown=unknown)
    return None


def _targets(rest: str, vocabulary: FeedVocabulary) -> tuple[list[FeedTarget], list[str]]:
    """Targets in "horror or thrillers", "sequels", "movies after 2000"; unknown phrases apart."""
    phrase = _squash(_NOUNS.sub(" ", rest))
    if not phrase:
        return [], []
    numeric = _numeric(phrase, vocabulary)
    if numeric is not None:
        return [numeric], []
    targets: list[FeedTarget] = []
    unknown: list[str] = []
    for part in re.split(r",|\bor\b|\band\b|\bnor\b|/", phrase):
        part = _squash(part)
        if not part:
            continue
        if _SEQUEL_WORDS.match(part):
            targets.append(TitlePatternTarget(pattern="sequel"))
            continue
        found = vocabulary.attribute(part)
        (targets.append(found) if found is not None else unknown.append(part))
    return targets, unknown


def _numeric(phrase: str, vocabulary: FeedVocabulary) -> NumericTarget | None:
    if "year" not in vocabulary.numeric:
        return None
    if m := _AFTER.match(phrase):
        return NumericTarget(
            attribute="year",
            min=float(int(m.group("y")) + (0 if "since" in phrase or "from" in phrase else 1)),
        )
    if m := _BEFORE.match(phrase):
        return NumericTarget(attribute="year", max=float(int(m.group("y")) - (0 if "until" in phrase else 1)))
    if m := _BETWEEN.match(phrase):
        low, high = sorted((int(m.group("a")), int(m.group("b"))))
        return NumericTarget(attribute="year", min=float(low), max=float(high))
    if m := _DECADE.match(phrase):
        start = int(m.group("c") or "19") * 100 + int(m.group("d")) * 10
        return NumericTarget(attribute="year", min=float(start), max=float(start + 9))
    return None


def _effect(name: str) -> FeedEffect:
    return "exclude" if name == "exclude" else "boost" if name == "boost" else "require"


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
