"""The LLM brain's instructions, the typed answers it expects, the context of each call, reply checks.

Sized for local models: the planner's stable prefix (instructions and the tools' signatures) comes
first so servers can reuse their prompt cache, and its message carries only the vocabulary relevant
to what the user said (:func:`relevant_vocabulary`), not the whole catalog's. Each kind of inserted
text has one builder: catalog values (:func:`relevant_vocabulary`, :func:`item_line`,
:func:`shown_list`), tools (:func:`~recpilot.agent.plan_schema.tool_catalog`), memory
(:func:`profile_summary`, :func:`dialogue_text`), so marking them as data is a change in one place each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recpilot.agent.types import HardConstraints, RecommendedItem, TraceStep
from recpilot.memory.base import DialogueTurn, UserProfile
from recpilot.safety.datamark import DATAMARK_INSTRUCTION, datamark, fenced, untrusted_block
from recpilot.tools.context import Catalog, normalise_title

PLAN_INSTRUCTIONS = """\
You plan a recommender's actions over a real catalog. Answer with a plan:
- intent: what the user wants;
- steps: tool calls run in order on one shared candidate set: search_catalog narrows it by hard
  constraints, similar_items scores it by likeness to named items, rank_candidates ranks it and keeps
  the answer (a recommend plan ends with it). chitchat and refuse need no steps.{hints}
- constraints: the hard constraints the user stated (as passed to search_catalog);
- note: one short sentence on why.
Use only attribute names and values listed in the message. Never invent items, ids or values.

Tools, as name(arguments, ? = optional):
{tools}"""

#: What the instructions say about a tool, said only in a turn that offers it: a turn whose message
#: asks for no standing rule is not told about ``add_feed_rule`` (least privilege, and fewer tokens).
PLAN_TOOL_HINTS = {
    "critique_shown": 'A critique of the list shown last ("not the second one", "older") is intent '
    "critique: critique_shown, then search and rank again.",
    "add_feed_rule": 'A standing instruction ("no horror this week") is intent feed: add_feed_rule.',
}


COMPOSE_INSTRUCTIONS = (
    """\
You write the recommender's reply. Answer with:
- reply: a short, friendly answer to the user's message (2 to 5 sentences). Mention only the items
  listed below, by their exact titles; never mention any other title and never invent facts;
- item_ids: the ids of the listed items to show, best first (all of them if they all fit);
- notes: optionally, for up to 5 item ids, the id and one short sentence on why it fits this user.
If no item is listed, say so plainly and suggest how to broaden the request, or answer from the
tool results.

"""
    + DATAMARK_INSTRUCTION
)

CRITIC_INSTRUCTIONS = (
    """\
You check a recommender's draft reply before it is sent. It must answer the user's message, respect
the user's constraints, and mention only the listed items with their true facts. Answer with
ok=true if the draft is faithful; otherwise ok=false, the problems, a corrected reply,
and the ids of listed items that break the constraints (drop_item_ids).

"""
    + DATAMARK_INSTRUCTION
)


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComposedReply(_Output):
    """The writer's answer.

    Attributes:
        reply: The text for the user.
        item_ids: Ids of the listed items to show, best first (titles are resolved by the agent).
        notes: One short sentence per item id on why it fits. On the wire it is a list of
            ``{"id": ..., "note": ...}`` (a bounded list: llama.cpp's grammar cannot bound an object's
            number of keys); either form is read.
    """

    reply: str = Field(min_length=1)
    item_ids: list[int | str] = Field(default_factory=list)
    notes: dict[str, str] = Field(default_factory=dict)

    @field_validator("notes", mode="before")
    @classmethod
    def _notes_from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {
                str(entry["id"]): entry["note"]
                for entry in value
                if isinstance(entry, dict) and "id" in entry and isinstance(entry.get("note"), str)
            }
        return value


class Critique(_Output):
    """The critic's verdict on a draft reply.

    Attributes:
        ok: The draft is faithful to the request, the constraints and the items.
        problems: What is wrong, in words.
        reply: A corrected reply (when not ok).
        drop_item_ids: Listed items that break the constraints.
    """

    ok: bool
    problems: list[str] = Field(default_factory=list)
    reply: str | None = None
    drop_item_ids: list[int | str] = Field(default_factory=list)


_MAX_VALUES = 25
_MAX_MATCHED = 12  # of a large vocabulary, the most common values the message names
_DIALOGUE_TURNS = 6
_TURN_CHARS = 200
_REPLY_CHARS = 100
_MESSAGE_CHARS = 600  # a plan needs the request, not every repetition of it; the prompt stays small


def plan_instructions(tools: str, offered: Iterable[str] | None = None) -> str:
    """The planner's system prompt, with the tool list (see :func:`tool_catalog`).

    Args:
        tools: The tool list.
        offered: The names of the tools this turn offers: the instructions explain only those
            (:data:`PLAN_TOOL_HINTS`); None explains every tool.
    """
    names = set(PLAN_TOOL_HINTS) if offered is None else set(offered)
    hints = "".join(f"\n  {hint}" for tool, hint in PLAN_TOOL_HINTS.items() if tool in names)
    body = PLAN_INSTRUCTIONS.format(tools=tools, hints=hints)
    return f"{body}\n\n{DATAMARK_INSTRUCTION}"


@dataclass(frozen=True)
class Vocabulary:
    """What a catalog's attributes can take, read once per catalog.

    Attributes:
        name: The catalog's name.
        n_items: Items in the catalog.
        ranges: Numeric attribute -> (lowest, highest).
        values: Categorical attribute -> its values, most common first.
        multivalued: Attributes an item may have several values of.
    """

    name: str
    n_items: int
    ranges: dict[str, tuple[float, float]]
    values: dict[str, list[str]]
    multivalued: frozenset[str]

    @classmethod
    def of(cls, catalog: Catalog) -> Vocabulary:
        """The vocabulary of ``catalog`` (identifiers, one value per item, are left out)."""
        store = catalog.store
        n_items = catalog.dataset.n_items
        ranges: dict[str, tuple[float, float]] = {}
        values: dict[str, list[str]] = {}
        multivalued = set()
        for name, info in store.attributes().items():
            if name.endswith("_id") or info.n_values >= 0.9 * n_items:
                continue  # identifiers: nothing a user asks for
            vocabulary = store.vocabulary(name)
            if info.value_type in ("int", "float"):
                numbers = [float(v) for v in vocabulary if isinstance(v, int | float)]
                if numbers:
                    ranges[name] = (min(numbers), max(numbers))
                continue
            values[name] = [str(v) for v in vocabulary]
            if info.multivalued:
                multivalued.add(name)
        return cls(catalog.name, n_items, ranges, values, frozenset(multivalued))


_TOKEN = re.compile(r"[a-z0-9]+")
# Words of requests that name no value ("some", "please", "movies"): they would match many tags.
_COMMON_WORDS = frozenset(
    {
        *("some", "please", "want", "like", "with", "from", "that", "this", "more", "less", "than"),
        *("good", "great", "movie", "movies", "film", "films", "show", "something", "anything"),
        *("give", "recommend", "watch", "the", "and", "for", "any"),
    }
)


def relevant_vocabulary(vocabulary: Vocabulary, message: str, *, listed: int = _MAX_VALUES) -> str:
    """The attributes and the values the planner may use for ``message``.

    A small vocabulary (up to ``listed`` values, like genres) is listed whole; a large one (user tags)
    only by its most common values that share a word with the message, so the prompt stays small
    whatever the catalog's size.
    """
    words = {w for w in _TOKEN.findall(message.lower()) if len(w) >= 3 and w not in _COMMON_WORDS}
    lines = [f"Catalog {vocabulary.name!r}: {vocabulary.n_items:,} items. Attributes:"]
    for name, (low, high) in vocabulary.ranges.items():
        lines.append(f"- {name} (number): {low:g} to {high:g}")
    for name, values in vocabulary.values.items():
        several = " (several per item)" if name in vocabulary.multivalued else ""
        if len(values) <= listed:
            lines.append(f"- {name}{several}: {', '.join(values)}")
            continue
        matched = [v for v in values if words & set(_TOKEN.findall(v.lower()))][:_MAX_MATCHED]
        shown = ", ".join(matched) if matched else "none"
        lines.append(f"- {name}{several}, {len(values):,} values; those the message names: {shown}")
    return "\n".join(lines)


def profile_summary(profile: UserProfile | None, catalog: Catalog) -> str:
    """The user's remembered preferences and summary, one per line, items shown by title.

    This is where stored memory enters a prompt, so the stored text (the summary, every value) is
    neutralised and datamarked here, once, whichever prompt the lines go into.
    """
    if profile is None or not (profile.preferences or profile.summary):
        return "Nothing remembered about this user yet."
    lines = [f"Summary: {datamark(profile.summary)}"] if profile.summary else []
    for pref in profile.preferences:
        if not pref.active():
            continue
        value = datamark(pref.value)
        if pref.kind in ("like_item", "dislike_item") and catalog.has_item(pref.value):
            value = f"{short_title(catalog.title(pref.value))} #{value}"
        lines.append(f"- {pref.kind}: {value}")
    return "\n".join(lines)


def shown_list(catalog: Catalog, items: Sequence[str]) -> str:
    """The list shown last, one ``position. title #id`` line per item still in the catalog."""
    kept = [item for item in items if catalog.has_item(item)]
    return "\n".join(f"{n}. {short_title(catalog.title(i))} #{i}" for n, i in enumerate(kept, start=1))


# An original-language title before the year ("Postman, The (Postino, Il) (1994)"); "a.k.a." stays.
_ORIGINAL_TITLE = re.compile(r"\s\((?!a\.k\.a\. )[^()]*\)(?=(?:\s\([^()]*\))*\s\(\d{4}\)\s*$)")


def short_title(title: str) -> str:
    """``title`` without original-language titles: the id says which item it is, at fewer tokens."""
    return _ORIGINAL_TITLE.sub("", title)


def dialogue_text(dialogue: Sequence[DialogueTurn]) -> str:
    """The recent dialogue (a condensed summary first, if any), each message shortened.

    The recommender's own replies are cut shorter: the items they showed are in the shown list.
    """
    if not dialogue:
        return "(no earlier messages)"
    recent = list(dialogue[-_DIALOGUE_TURNS:])
    if dialogue[0].role == "summary" and dialogue[0] not in recent:
        recent.insert(0, dialogue[0])
    return "\n".join(
        f"{turn.role}: {_shorten(turn.content, _REPLY_CHARS if turn.role == 'assistant' else _TURN_CHARS)}"
        for turn in recent
    )


def plan_prompt(message: str, vocabulary: str, profile: str, dialogue: str, shown: str = "") -> str:
    """The planner's user prompt (``shown``: the list shown last, ``position. title #id`` lines)."""
    # Everything but the user's message is untrusted text: fenced, and marked where it need not be quoted.
    listed = f"\n\nShown last (position. title #id):\n{fenced('shown', shown)}" if shown else ""
    return (
        f"{fenced('vocabulary', vocabulary)}\n\nUser profile:\n{fenced('profile', profile)}\n\n"
        f"Dialogue so far:\n{untrusted_block('dialogue', dialogue)}{listed}\n\n"
        f"User message: {_shorten(message, _MESSAGE_CHARS)}"
    )


def replan_prompt(base: str, failure: str) -> str:
    """The planner's prompt once more, with why the last plan failed when it ran."""
    failed = fenced("failure", failure)
    return f"{base}\n\nYour last plan failed when it ran:\n{failed}\nGive a plan that avoids this."


def compose_prompt(
    message: str,
    intent: str,
    constraints: HardConstraints,
    items: Sequence[RecommendedItem],
    trace: Sequence[TraceStep],
) -> str:
    """The writer's user prompt: the request, the grounded items and what the tools reported."""
    lines = [f"User message: {message}", f"Intent: {intent}"]
    if not constraints.is_empty():
        lines.append(f"Constraints: {_compact(constraints.model_dump(exclude_defaults=True))}")
    findings = [f"- {s.name}: {_shorten(s.detail)}" for s in trace if s.kind == "tool_call"]
    if findings:
        lines += ["Tool results:", untrusted_block("tool results", "\n".join(findings))]
    if items:
        lines.append("Items (id | title | facts | why):")
        lines.append(fenced("items", "\n".join(item_line(item) for item in items)))
    else:
        lines.append("Items: none matched.")
    return "\n".join(lines)


def critic_prompt(compose: str, reply: str, item_ids: Sequence[Any]) -> str:
    """The critic's user prompt: the writer's context and its draft."""
    return f"{compose}\n\nDraft reply: {reply}\nDraft item_ids: {_compact(list(item_ids))}"


def item_line(item: RecommendedItem) -> str:
    """One grounded item for the writer: id, title, a few facts and its reasons."""
    facts = ", ".join(f"{k}={_short_value(v)}" for k, v in item.attributes.items() if k in ("year", "genres"))
    why = "; ".join(r.text for r in item.reasons[:3])
    return f"- {item.item_id} | {item.title} | {facts} | {why}"


_MENTION_YEAR = re.compile(r"\((\d{4})\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\s()]+")


def ground_reply(reply: str, allowed_titles: Sequence[str], trace: list[TraceStep]) -> str:
    """The reply without sentences that mention a ``Title (Year)`` not among ``allowed_titles``.

    The item list is grounded by the agent; this keeps the text from naming items that are not shown
    (an invented "The Room 2 (2031)", or a real title the constraints ruled out). Mentions without a
    year cannot be told from ordinary words and are left to the instructions.
    """
    allowed = {normalise_title(t) for t in allowed_titles}
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(reply.strip()):
        unknown = [
            m for m in _MENTION_YEAR.finditer(sentence) if not _names_allowed(sentence[: m.start()], allowed)
        ]
        if unknown:
            mention = sentence[: unknown[0].end()].strip()[-80:]
            trace.append(
                TraceStep(
                    kind="grounding",
                    name="reply_mention",
                    args={"mention": mention},
                    ok=False,
                    detail="not a shown item; sentence dropped",
                )
            )
            continue
        kept.append(sentence)
    return " ".join(s for s in kept if s.strip())


def _names_allowed(before: str, allowed: set[str]) -> bool:
    words = _WORD.findall(before)[-12:]
    return any(
        normalise_title(" ".join(words[start:]).strip("*_\"'“”")) in allowed for start in range(len(words))
    )


def plain_reply(items: Sequence[RecommendedItem]) -> str:
    """A neutral reply for when the model's text had nothing left after grounding."""
    if not items:
        return "I could not find anything that matches; try loosening a constraint."
    return f"Here are {len(items)} suggestions that match your request."


def _short_value(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(str(v) for v in value[:5])
    return str(value)


def _shorten(text: str, limit: int = _TURN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
