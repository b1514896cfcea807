"""The offline brain's conversational turns: feed rules, critiques, picks, answers, off-topic, questions.

:meth:`OfflineConversation.handle` looks at a message before the request parser does. It either
answers it completely (listing or changing feed rules, a reference to an item that was not shown, an
off-topic message, a clarifying question), or turns it into a recommendation request to run with the
session's critiques in force (a critique, an answer to a question), or leaves it to the parser.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from recpilot.agent.brain import Act, ToolRunner, Turn
from recpilot.agent.types import TraceStep
from recpilot.conversation.critiques import (
    ParsedCritique,
    apply_critique,
    parse_critiques,
    parse_selection,
    reference_value,
)
from recpilot.conversation.feed import FeedVocabulary, parse_feed_command, parse_rules_request
from recpilot.conversation.feed_store import RuleChange, describe_change, describe_rules
from recpilot.conversation.tools import add_rule_args, remove_rule_args
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import same_target
from recpilot.tools.context import Catalog, ToolContext
from recpilot.understanding.request import ItemReference, ParsedRequest
from recpilot.understanding.tokens import FILLER
from recpilot.understanding.vocabulary import GENRE_ATTRIBUTE, pretty_title

OFF_TOPIC_REPLY = (
    "I can only help with films from the catalog, so I'll leave that one aside. Tell me what you'd like "
    "to watch: a genre, a period, a mood or a title you liked."
)
_YES = re.compile(
    r"^(?:actually )?(?:yes|yeah|yep|yup|sure|ok|okay|definitely|absolutely|of course|why not|sounds good)"
    r"(?:[,.! ]+(?:please|thanks|thank you|i am|i do))?[.! ]*$"
)
_NO = re.compile(
    r"^(?:actually )?(?:no|nope|nah|not really|not at all|no thanks|rather not)"
    r"(?:[,.! ]+(?:thanks|thank you|i am not|i'm not|i don't|i do not))?[.! ]*$"
)
_OFF_TOPIC = re.compile(
    r"\b(?:weather|forecast|stock|stocks|bitcoin|crypto|football|soccer|basketball|election|president|"
    r"recipe|cook|cooking|homework|math|equation|python|javascript|capital of|traffic|news|flight|"
    r"hotel|doctor|medicine|lottery|horoscope|what time is it|meaning of life|joke)\b"
)
_QUESTION = re.compile(r"^(?:what|who|where|when|why|how|which|is|are|can|could|do|does|will|would)\b")
_DOMAIN = re.compile(r"\b(?:watch|film|films|movie|movies|recommend|show|see|genre|actor|director|series)\b")


@dataclass
class Handled:
    """What the conversation layer made of a message.

    Attributes:
        act: A complete answer (nothing to recommend), or None.
        request: A recommendation request to run instead of parsing the message, or None.
        notes: Sentences for the reply of that recommendation ("Noted: less violent.").
    """

    act: Act | None = None
    request: ParsedRequest | None = None
    notes: list[str] = field(default_factory=list)


class OfflineConversation:
    """Conversational handling for :class:`~recpilot.agent.offline.OfflineBrain` (see the module doc).

    Args:
        policy: An ask-or-recommend policy (:mod:`recpilot.conversation.policy`) consulted on vague
            requests of users without history; None never asks.
    """

    def __init__(self, policy: Any | None = None) -> None:
        self.policy = policy
        self._vocabularies: weakref.WeakKeyDictionary[Catalog, FeedVocabulary] = weakref.WeakKeyDictionary()
        self._spaces: weakref.WeakKeyDictionary[Catalog, Any] = weakref.WeakKeyDictionary()

    def feed_vocabulary(self, catalog: Catalog) -> FeedVocabulary:
        """What feed commands can name in this catalog (built once per catalog)."""
        vocabulary = self._vocabularies.get(catalog)
        if vocabulary is None:
            vocabulary = FeedVocabulary.from_dataset(catalog.dataset)
            self._vocabularies[catalog] = vocabulary
        return vocabulary

    def is_command(self, message: str, catalog: Catalog) -> bool:
        """Whether a message is a feed, rules, critique, pick or yes/no turn (not a request to fold in)."""
        vocabulary = self.feed_vocabulary(catalog)
        low = message.strip().lower()
        return bool(
            parse_rules_request(message, vocabulary)
            or parse_feed_command(message, vocabulary, now=time.time())
            or parse_critiques(message, [("", "")], genres=_genres(vocabulary), numeric=vocabulary.numeric)
            or parse_selection(message, [("", "")])
            or _YES.match(low)
            or _NO.match(low)
        )

    def handle_feed(self, turn: Turn, tools: ToolRunner) -> Act | None:
        """Answer a feed command or a question about feed rules; None for any other message."""
        ctx = tools.context
        vocabulary = self.feed_vocabulary(ctx.catalog)
        text = turn.message
        rules = parse_rules_request(text, vocabulary)
        if rules is not None:
            return self._rules(ctx, rules, tools)
        now = time.time()
        command = parse_feed_command(text, vocabulary, now=now)
        if command is not None:
            # Through the dispatcher, as any brain's writes: the policy and the audit see them.
            change = RuleChange()
            for rule in command.rules:
                change = change.merged(_change(tools.call("add_feed_rule", add_rule_args(rule, now=now))))
            reply = describe_change(change, until=command.until, unknown=command.unknown)
            return Act(intent="feed", reply=reply, note="feed command")
        return None

    def is_answer(self, message: str, state: DialogueState) -> bool:
        """Whether the message answers the question the system asked last ("yes", "no thanks")."""
        low = message.strip().lower()
        return state.pending_question is not None and bool(_YES.match(low) or _NO.match(low))

    def handle(self, turn: Turn, tools: ToolRunner, previous: ParsedRequest | None) -> Handled | None:
        """Answer or translate a conversational message; None leaves it to the request parser.

        Args:
            turn: The turn.
            tools: The turn's tool runner (its context holds the dialogue state).
            previous: The session's last recommendation request (folded), for critiques to re-run.
        """
        ctx = tools.context
        state = ctx.dialogue or DialogueState(session_id=turn.session_id, user_id=turn.user_id)
        ctx.dialogue = state
        vocabulary = self.feed_vocabulary(ctx.catalog)
        text = turn.message
        shown = [(item, _title(ctx, item)) for item in state.last_shown]
        selection = parse_selection(text, shown)
        if selection is not None:
            return Handled(act=self._select(ctx, state, selection))
        critiques = parse_critiques(text, shown, genres=_genres(vocabulary), numeric=vocabulary.numeric)
        if critiques and (shown or all(c.kind in ("reject", "more_like", "less", "more") for c in critiques)):
            return self._critique(ctx, state, critiques, previous)
        answer = self._answer(text, state, previous)
        if answer is not None:
            return answer
        return None

    def off_topic(self, message: str, parsed: ParsedRequest) -> Act | None:
        """A polite redirect for a message about something else than films ("what's the weather?")."""
        low = message.lower()
        if parsed.intent != "recommend" or parsed.constraints.attributes or _DOMAIN.search(low):
            return None
        # A title can hide in any sentence ("the weather tomorrow": Tomorrow (2015)); a clear off-topic
        # word wins over it, a bare question only when nothing else was understood.
        recognised = parsed.liked or parsed.topics or parsed.ranking or parsed.constraints.numeric
        words = re.findall(r"[a-z']+", low)
        vague_question = _QUESTION.match(low) and not any(w in FILLER for w in words) and not recognised
        if _OFF_TOPIC.search(low) or vague_question:
            return Act(intent="chitchat", reply=OFF_TOPIC_REPLY, note="off topic", keep_state=True)
        return None

    def clarify(self, turn: Turn, tools: ToolRunner, parsed: ParsedRequest) -> Act | None:
        """Ask one attribute question on a vague first request of a user without history (with a policy)."""
        ctx = tools.context
        state = ctx.dialogue
        if self.policy is None or state is None or parsed.understood() or parsed.refinement != "new":
            return None
        if state.asked or state.shown or ctx.dataset_user is not None or ctx.liked_items():
            return None
        from recpilot.conversation.policy import Ask, AttributeSpace

        space = self._spaces.get(ctx.catalog)
        if space is None:
            space = AttributeSpace.from_dataset(ctx.catalog.dataset, fields=[GENRE_ATTRIBUTE])
            self._spaces[ctx.catalog] = space
        ids = [ctx.catalog.coerce_item_id(i) for i in space.item_ids]
        scores = ctx.catalog.popularity[ctx.catalog.dataset.items.to_internal(ids)]
        action = self.policy.decide(state, space, scores)
        _trace(
            tools,
            "ask_or_recommend",
            f"{self.policy.name}: {action.kind} {getattr(action, 'attributes', '')}",
        )
        if not isinstance(action, Ask):
            return None
        values = [a.partition("=")[2] for a in action.attributes]
        state.pending_question = action.attributes[0] if len(values) == 1 else ",".join(action.attributes)
        for attribute in action.attributes:
            if attribute not in state.asked:
                state.asked.append(attribute)
        if len(values) == 1:
            reply = f"To narrow it down: are you in the mood for {values[0]}? (yes or no)"
        else:
            reply = (
                f"To narrow it down, which of these appeal to you: {', '.join(values[:-1])} or {values[-1]}?"
            )
        return Act(intent="ask", reply=reply, note=action.note or "clarifying question")

    # -- internals ----------------------------------------------------------------------------------------

    def _rules(self, ctx: ToolContext, request: Any, tools: ToolRunner) -> Act:
        if request.action == "list":
            rules = ctx.memory.feed_rules(ctx.user_id, include_expired=True)
            return Act(intent="feed", reply=describe_rules(rules), note="list rules")
        calls: list[dict[str, Any]] = [{"rule_id": rule_id} for rule_id in request.ids]
        change = RuleChange()
        for target in request.targets:
            args = remove_rule_args(target)
            if args is not None:
                calls.append(args)
                continue
            stored = ctx.memory.feed_rules(ctx.user_id, include_expired=True)
            ids = [r.id for r in stored if same_target(r.target, target)]
            calls.extend({"rule_id": rule_id} for rule_id in ids)
            if not ids:
                change.missing.append(target.describe())
        for args in calls:
            change = change.merged(_change(tools.call("remove_feed_rule", args)))
        return Act(intent="feed", reply=describe_change(change, unknown=request.unknown), note="remove rules")

    def _select(self, ctx: ToolContext, state: DialogueState, selection: Any) -> Act:
        if selection.problem is not None:
            return Act(intent="chitchat", reply=selection.problem, note="bad reference", keep_state=True)
        item = selection.item_id
        title = pretty_title(_title(ctx, item))
        if selection.details:
            state.focus_item = item
            row = ctx.catalog.row(item)
            facts = ", ".join(
                f"{k}: {_short(v)}" for k, v in row.items() if k in ("year", "genres", "tags") and v
            )
            return Act(intent="details", reply=f"{title} — {facts}.", note="details of a shown item")
        state.accept_item(item)
        state.focus_item = item
        return Act(
            intent="chitchat",
            reply=f"Great choice: {title}. Ask for “more like it” when you want similar ones.",
            note="accepted item",
        )

    def _critique(
        self,
        ctx: ToolContext,
        state: DialogueState,
        critiques: list[ParsedCritique],
        previous: ParsedRequest | None,
    ) -> Handled:
        # A message with several critiques is applied whole or not at all.
        problems = [c.problem for c in critiques if c.problem is not None]
        if problems:
            reply = " ".join(problems)
            act = Act(intent="critique", reply=reply, note="critique not applied", keep_state=True)
            return Handled(act=act)
        request = (previous or ParsedRequest()).model_copy(deep=True)
        request.refinement = "adjust"
        notes = []
        for critique in critiques:
            reference = None
            if critique.kind in ("lower", "higher") and critique.numeric:
                reference = reference_value(ctx, critique.numeric, state.last_shown)
            apply_critique(state, critique, reference=reference)
            notes.append(_acknowledge(ctx, critique, reference))
            if critique.kind == "more_like" and critique.item_id is not None:
                item = ctx.catalog.coerce_item_id(critique.item_id)
                title = _title(ctx, critique.item_id)
                request.liked = [ItemReference(text=title, item_id=item, title=title)]
        request.constraints.exclude_items = list(
            dict.fromkeys([*request.constraints.exclude_items, *_coerced(ctx, state.rejected_items)])
        )
        return Handled(request=request, notes=notes)

    def _answer(self, text: str, state: DialogueState, previous: ParsedRequest | None) -> Handled | None:
        low = text.strip().lower()
        yes, no = _YES.match(low), _NO.match(low)
        asked = state.pending_question
        if not (yes or no) or not asked or "," in asked:
            return None
        before_yes = asked in state.accepted_attributes
        before_no = asked in state.rejected_attributes
        value = asked.partition("=")[2]
        notes: list[str] = []
        if yes:
            state.accept_attribute(asked)
            if before_no:
                notes.append(
                    f"Earlier you said no to {value}; I've switched to yes, since your latest answer wins."
                )
        else:
            state.reject_attribute(asked)
            if before_yes:
                notes.append(
                    f"Earlier you said yes to {value}; I've switched to no, since your latest answer wins."
                )
        state.last_action = "answer"
        request = (previous or ParsedRequest()).model_copy(deep=True)
        return Handled(request=with_answers(request, state), notes=notes)


def reconcile_answers(state: DialogueState | None, parsed: ParsedRequest) -> list[str]:
    """Fold the session's answered questions into the request; a request that contradicts an answer
    wins (the latest answer) and the reply says so."""
    if state is None:
        return []
    offered = (state.pending_question or "").split(",")
    if len(offered) > 1:  # a multiple-choice question: the values named in the reply are accepted
        named = {f"{g.attribute}={v}" for g in parsed.required_groups() for v in g.values}
        for attribute in offered:
            if attribute in named and attribute not in state.accepted_attributes:
                state.accept_attribute(attribute)
    if not (state.accepted_attributes or state.rejected_attributes):
        return []
    notes: list[str] = []
    for name, values in parsed.constraints.exclude_attributes.items():
        for value in values:
            if f"{name}={value}" in state.accepted_attributes:
                state.reject_attribute(f"{name}={value}")
                notes.append(f"Earlier you said yes to {value}; now it's no, since your latest answer wins.")
    for group in parsed.required_groups():
        for value in group.values:
            if f"{group.attribute}={value}" in state.rejected_attributes:
                state.accept_attribute(f"{group.attribute}={value}")
                notes.append(f"Earlier you said no to {value}; now it's yes, since your latest answer wins.")
    with_answers(parsed, state)
    return notes


def with_answers(request: ParsedRequest, state: DialogueState) -> ParsedRequest:
    """The request with the session's answered attributes: accepted ones required, declined excluded."""
    constraints = request.constraints
    for attribute in state.accepted_attributes:
        name, _, value = attribute.partition("=")
        if value and name not in constraints.attributes:
            constraints.attributes[name] = [value]
    for attribute in state.rejected_attributes:
        name, _, value = attribute.partition("=")
        wanted = {v.lower() for v in constraints.attributes.get(name, [])}
        if value and value.lower() not in wanted:
            current = constraints.exclude_attributes.setdefault(name, [])
            if value not in current:
                current.append(value)
    return request


def _acknowledge(ctx: ToolContext, critique: ParsedCritique, reference: float | None) -> str:
    if critique.kind == "reject" and critique.item_id is not None:
        title = pretty_title(_title(ctx, critique.item_id))
        return f"Noted: not {title}. I also moved titles like it down."
    if critique.kind == "more_like" and critique.item_id is not None:
        return f"Here is more like {pretty_title(_title(ctx, critique.item_id))}."
    if critique.kind in ("less", "more"):
        values = ", ".join(a.partition("=")[2] for a in critique.attributes)
        return f"Noted: {critique.kind} {values}."
    if critique.kind in ("lower", "higher"):
        word = "below" if critique.kind == "lower" else "above"
        if reference is None:
            return f"I couldn't tell the {critique.numeric} of what I showed, so nothing was shifted."
        return f"Going {word} {critique.numeric} {reference:g} (the middle of the last list)."
    return "Here are some different ones."


def _genres(vocabulary: FeedVocabulary) -> frozenset[str]:
    return frozenset(vocabulary.values.get(GENRE_ATTRIBUTE, {}).values())


def _title(ctx: ToolContext, item: str | None) -> str:
    return ctx.catalog.title(item) if item is not None and ctx.catalog.has_item(item) else str(item)


def _coerced(ctx: ToolContext, items: list[str]) -> list[Any]:
    return [ctx.catalog.coerce_item_id(i) for i in items if ctx.catalog.has_item(i)]


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:5])
    return str(value)


def _change(record: Any) -> RuleChange:
    """What a feed-rule tool call changed (nothing when it failed or was refused)."""
    if not record.ok or record.output is None:
        return RuleChange()
    return RuleChange.from_data(record.output.data.get("change", {}))


def _trace(tools: ToolRunner, name: str, detail: str) -> None:
    tools.trace.append(TraceStep(kind="memory", name=name, detail=detail))
