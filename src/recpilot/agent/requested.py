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
from collections.abc import Sequence
from dataclasses import dataclass

from recpilot.agent.brain import Turn
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.types import HardConstraints, ItemId
from recpilot.conversation.critiques import ParsedCritique, parse_critiques
from recpilot.conversation.feed_parse import parse_feed_command, parse_rules_request
from recpilot.conversation.tools import add_rule_args, remove_rule_args
from recpilot.memory.base import UserProfile
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import FeedRule, FeedTarget, same_target
from recpilot.safety.request import RequestedWrite, UserRequest, WriteKind, canonical
from recpilot.tools.context import Catalog
from recpilot.understanding.request import PreferenceNote
from recpilot.understanding.vocabulary import GENRE_ATTRIBUTE, pretty_title, title_forms


@dataclass(frozen=True)
class Judgement:
    """What the user's words allow this turn.

    Attributes:
        request: The writes asked for (goes on the tool context for the policy).
        constraints: The hard constraints the user stated for a recommendation (empty otherwise).
    """

    request: UserRequest
    constraints: HardConstraints


def judge_turn(
    turn: Turn,
    catalog: Catalog,
    state: DialogueState | None,
    parser: OfflineBrain,
    rules: Sequence[FeedRule] = (),
) -> Judgement:
    """Judge one turn from the user's text.

    Args:
        turn: The turn (its message, the session's earlier messages and the user's stored profile,
            whose preference ids a "forget ..." may delete).
        catalog: The catalog whose vocabulary the parsers read.
        state: The session's dialogue state (what was shown last, for critiques).
        parser: The offline brain whose parsers (and cached vocabularies) are used.
        rules: The user's feed rules, expired ones too (the ids a "allow horror again" may remove).
    """
    text = turn.message
    feed = parser.conversation.feed_vocabulary(catalog)
    writes: set[WriteKind] = set()
    allowed: list[RequestedWrite] = []
    listing = parse_rules_request(text, feed)
    if listing is not None and listing.action == "remove":
        writes.add("feed_remove")
        allowed.extend(_removals(listing.ids, listing.targets, rules))
    now = time.time()
    command = parse_feed_command(text, feed, now=now)
    stated: dict[str, set[str]] = {}
    if command is not None:
        writes.add("feed_add")
        stated["effect"] = {r.effect for r in command.rules}
        days = [math.inf if r.expires_at is None else (r.expires_at - now) / 86_400 for r in command.rules]
        stated["days"] = {str(max(days, default=math.inf))}
        allowed.extend(_addition(rule, now) for rule in command.rules)
    shown = [(str(item), _title(catalog, item)) for item in (state.last_shown if state is not None else [])]
    genres = frozenset(feed.values.get(GENRE_ATTRIBUTE, {}).values())
    critiques = parse_critiques(text, shown or [("", "")], genres=genres, numeric=feed.numeric)
    if critiques:
        writes.add("critique")
        allowed.extend(_critique(c, [item for item, _ in shown]) for c in critiques if c.problem is None)
    constraints = HardConstraints()
    mentions: set[str] = set()
    if listing is None and command is None:
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
            allowed.extend(_remembering(catalog, note.kind, note.value) for note in parsed.remember)
        if parsed.intent == "forget" or parsed.forget or parsed.forget_all:
            writes.add("forget")
            allowed.extend(_forgetting(catalog, turn.profile, parsed.forget, everything=parsed.forget_all))
        if parsed.intent == "recommend" and "critique" not in writes:
            constraints = parsed.constraints.model_copy(update={"keywords": None, "exclude_items": []})
    if state is not None and listing is None and command is None:
        # "I loved the second one": a like or dislike of a shown item, by position, title or "it".
        act = parser.read_act(turn, catalog, state)
        if act is not None and act.kind == "mark" and act.mark != "seen" and act.refs.items:
            writes.add("remember")
            kind = "like_item" if act.mark == "liked" else "dislike_item"
            stated.setdefault("kind", set()).add(kind)
            mentions.update(str(item) for item in act.refs.items)
            allowed.extend(_remembering(catalog, kind, str(item)) for item in act.refs.items)
    number = sum(1 for t in turn.dialogue if t.role == "user") + 1
    request = UserRequest(
        text=text,
        writes=frozenset(writes),
        mentions=frozenset(m.casefold() for m in mentions),
        stated={arg: frozenset(values) for arg, values in stated.items()},
        allowed=tuple(allowed),
        turn=number,
        session_id=turn.session_id,
        source="user",
    )
    return Judgement(request, constraints)


def _title(catalog: Catalog, item: ItemId) -> str:
    return catalog.title(catalog.coerce_item_id(item)) if catalog.has_item(item) else ""


def _item_forms(catalog: Catalog, value: str) -> set[str]:
    """An item as a call may name it: its id and its title as stored, as people write it, without the
    year, and its alternative titles ("Heat", "Heat (1995)", "6")."""
    title = _title(catalog, value)
    if not title:
        return {value}
    main, alternatives, _ = title_forms(title)
    return {value, title, pretty_title(title), main, *alternatives}


def _remembering(catalog: Catalog, kind: str, value: str) -> RequestedWrite:
    """``remember_preference`` of one stated preference (a free-text constraint in the user's words)."""
    if kind == "constraint":
        return RequestedWrite.of("remember_preference", {"kind": [kind]}, said=["value"])
    forms = _item_forms(catalog, value) if kind in ("like_item", "dislike_item") else {value}
    return RequestedWrite.of("remember_preference", {"kind": [kind], "value": forms})


def _forgetting(
    catalog: Catalog, profile: UserProfile | None, notes: Sequence[PreferenceNote], *, everything: bool
) -> list[RequestedWrite]:
    """``forget_preference`` of each named preference, by value or by the id it is stored under (every
    stored one for "forget everything", which may also ask for ``forget_everything``)."""
    writes: list[RequestedWrite] = []
    forms: set[str] = set()
    for note in notes:
        item = note.kind in ("like_item", "dislike_item")
        named = _item_forms(catalog, note.value) if item else {note.value}
        writes.append(RequestedWrite.of("forget_preference", {"value": named}))
        forms.update(canonical(f) for f in named)
    stored = profile.preferences if profile is not None else []
    ids = [p.id for p in stored if everything or canonical(p.value) in forms]
    if ids:
        writes.append(RequestedWrite.of("forget_preference", {"preference_id": ids}))
    if everything:
        writes.append(RequestedWrite.of("forget_everything"))
    return writes


def _addition(rule: FeedRule, now: float) -> RequestedWrite:
    """``add_feed_rule`` of one stated rule: its effect and target, as long as the user said."""
    args = add_rule_args(rule, now=now)
    days = args.pop("days", None)
    args.pop("text", None)
    duration = math.inf if days is None else float(days)
    return RequestedWrite.of(
        "add_feed_rule", {a: [v] for a, v in args.items()}, durations={"days": duration}, said=["text"]
    )


def _removals(
    ids: Sequence[int], targets: Sequence[FeedTarget], rules: Sequence[FeedRule]
) -> list[RequestedWrite]:
    """``remove_feed_rule`` of each rule named by id, or by target (by the target, or by the id of each
    stored rule about it). A rule named by id may also be removed by its target when no other stored
    rule has that target (removing by target removes every rule about it)."""
    writes = [RequestedWrite.of("remove_feed_rule", {"rule_id": [rule_id]}) for rule_id in ids]
    for rule in rules:
        alike = [r for r in rules if same_target(r.target, rule.target)]
        if rule.id in ids and len(alike) == 1 and (args := remove_rule_args(rule.target)) is not None:
            writes.append(RequestedWrite.of("remove_feed_rule", {a: [v] for a, v in args.items()}))
    for target in targets:
        args = remove_rule_args(target)
        if args is not None:
            writes.append(RequestedWrite.of("remove_feed_rule", {a: [v] for a, v in args.items()}))
        writes.extend(
            RequestedWrite.of("remove_feed_rule", {"rule_id": [r.id]})
            for r in rules
            if same_target(r.target, target)
        )
    return writes


def _critique(critique: ParsedCritique, shown: Sequence[str]) -> RequestedWrite:
    """``critique_shown`` of one parsed critique: its kind, the shown item's position, the attribute."""
    values: dict[str, list[object]] = {"kind": [critique.kind]}
    said: list[str] = []
    if critique.item_id is not None:
        values["position"] = [i + 1 for i, item in enumerate(shown) if item == critique.item_id]
    if critique.kind in ("less", "more"):
        said.append("attribute")  # "genres=Action" or the mood word the user used
    elif critique.numeric is not None:
        values["attribute"] = [critique.numeric]
    return RequestedWrite.of("critique_shown", values, said=said)


_YES = re.compile(
    r"^\s*(?:yes|yeah|yep|sure|ok|okay|confirm|confirmed|go ahead|do it)\b[\s.!,]*(?:please)?[\s.!]*$", re.I
)


def is_confirmation(message: str) -> bool:
    """Whether the message is a plain "yes" (to a question the agent asked)."""
    return bool(_YES.match(message))
