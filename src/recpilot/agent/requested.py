"""Judging from the user's own words, in code, what a turn may write and which constraints it states.

The policy in the dispatcher lets a write tool run only when this judgement says the user asked for
that write; grounding enforces the constraints judged here on every shown item whatever a brain
planned. Only the user's message (and, for refinements, the user's earlier messages of the session) is
read: never catalog text, tool results, stored memory or what an LLM said. The judgement uses the
offline brain's parsers, so it understands what the offline brain acts on.

It lives in the agent layer because those parsers do; :class:`~recpilot.safety.request.UserRequest`,
what it produces, sits below the tools so the dispatcher can read it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from recpilot.agent.brain import Turn
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.types import HardConstraints
from recpilot.conversation.critiques import parse_critiques
from recpilot.conversation.feed_parse import parse_feed_command, parse_rules_request
from recpilot.memory.dialogue import DialogueState
from recpilot.safety.request import UserRequest, WriteKind
from recpilot.tools.context import Catalog
from recpilot.understanding.vocabulary import GENRE_ATTRIBUTE


@dataclass(frozen=True)
class Judgement:
    """What the user's words allow this turn.

    Attributes:
        request: The writes asked for (goes on the tool context for the policy).
        constraints: The hard constraints the user stated for a recommendation (empty otherwise).
    """

    request: UserRequest
    constraints: HardConstraints


def judge_turn(turn: Turn, catalog: Catalog, state: DialogueState | None, parser: OfflineBrain) -> Judgement:
    """Judge one turn from the user's text.

    Args:
        turn: The turn (its message and the session's earlier messages).
        catalog: The catalog whose vocabulary the parsers read.
        state: The session's dialogue state (what was shown last, for critiques).
        parser: The offline brain whose parsers (and cached vocabularies) are used.
    """
    text = turn.message
    feed = parser.conversation.feed_vocabulary(catalog)
    writes: set[WriteKind] = set()
    rules = parse_rules_request(text, feed)
    if rules is not None and rules.action == "remove":
        writes.add("feed_remove")
    now = time.time()
    command = parse_feed_command(text, feed, now=now)
    stated: dict[str, set[str]] = {}
    if command is not None:
        writes.add("feed_add")
        stated["effect"] = {r.effect for r in command.rules}
        days = [math.inf if r.expires_at is None else (r.expires_at - now) / 86_400 for r in command.rules]
        stated["days"] = {str(max(days, default=math.inf))}
    shown = [(str(item), "") for item in (state.last_shown if state is not None else [])]
    genres = frozenset(feed.values.get(GENRE_ATTRIBUTE, {}).values())
    if parse_critiques(text, shown or [("", "")], genres=genres, numeric=feed.numeric):
        writes.add("critique")
    constraints = HardConstraints()
    mentions: set[str] = set()
    if rules is None and command is None:
        parsed = parser.understand(turn, catalog)
        mentions.update(note.value for note in (*parsed.remember, *parsed.forget))
        stated["kind"] = {note.kind for note in parsed.remember}
        mentions.update(
            str(ref.item_id)
            for ref in (*parsed.liked, *parsed.disliked, *parsed.subjects)
            if ref.item_id is not None
        )
        if parsed.intent == "remember" or parsed.remember:
            writes.add("remember")
        if parsed.intent == "forget" or parsed.forget or parsed.forget_all:
            writes.add("forget")
        if parsed.intent == "recommend" and "critique" not in writes:
            constraints = parsed.constraints.model_copy(update={"keywords": None, "exclude_items": []})
    if state is not None and rules is None and command is None:
        # "I loved the second one": a like or dislike of a shown item, by position, title or "it".
        act = parser.read_act(turn, catalog, state)
        if act is not None and act.kind == "mark" and act.mark != "seen" and act.refs.items:
            writes.add("remember")
            stated.setdefault("kind", set()).add("like_item" if act.mark == "liked" else "dislike_item")
            mentions.update(str(item) for item in act.refs.items)
    number = sum(1 for t in turn.dialogue if t.role == "user") + 1
    request = UserRequest(
        text=text,
        writes=frozenset(writes),
        mentions=frozenset(m.casefold() for m in mentions),
        stated={arg: frozenset(values) for arg, values in stated.items()},
        turn=number,
    )
    return Judgement(request, constraints)


_YES = re.compile(
    r"^\s*(?:yes|yeah|yep|sure|ok|okay|confirm|confirmed|go ahead|do it)\b[\s.!,]*(?:please)?[\s.!]*$", re.I
)


def is_confirmation(message: str) -> bool:
    """Whether the message is a plain "yes" (to a question the agent asked)."""
    return bool(_YES.match(message))
