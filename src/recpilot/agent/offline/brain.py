"""The offline brain: the catalog's vocabulary instead of an LLM, the same tools and the same typed result.

:meth:`OfflineBrain.act` parses the message (:mod:`~recpilot.understanding.parser`), turns it into a
:class:`~recpilot.agent.types.Plan` (search -> describe -> similar -> rank), runs it through the tool
runner, and relaxes only soft parts (a description nothing matches) when they leave nothing; hard
constraints are never dropped, and when they match nothing the reply says which one to drop.
:meth:`OfflineBrain.compose` writes a template reply that states what was understood.
"""

from __future__ import annotations

import re
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.offline.conversation import Handled, OfflineConversation, reconcile_answers
from recpilot.agent.offline.followup import FollowUps
from recpilot.agent.offline.plans import (
    Attempt,
    PlanSettings,
    describe_first,
    in_words,
    recommendation_plan,
)
from recpilot.agent.offline.replies import (
    CHITCHAT_REPLY,
    REFUSALS,
    Outcome,
    genre_label,
    recommendation_reply,
)
from recpilot.agent.offline.services import ServiceReplies
from recpilot.agent.types import HardConstraints, ItemId, Plan, RecommendedItem, TraceStep
from recpilot.memory.dialogue import DialogueState
from recpilot.tools.context import CandidateSet, Catalog, ToolContext
from recpilot.understanding.acts import DialogueAct, read_act
from recpilot.understanding.intents import refusal
from recpilot.understanding.modifiers import apply_modifiers, find_modifiers
from recpilot.understanding.parser import parse_request, refine
from recpilot.understanding.references import ReferenceFinder
from recpilot.understanding.request import ItemReference, ParsedRequest
from recpilot.understanding.shown import shown_items
from recpilot.understanding.tokens import tokenize
from recpilot.understanding.vocabulary import YEAR_ATTRIBUTE, CatalogVocabulary, pretty_title

if TYPE_CHECKING:
    from recpilot.conversation.policy import ConversationPolicy
    from recpilot.understanding.act_classifier import ActClassifier

_DEFAULT_COUNT = 10
_MAX_RANKED = 100
_PENDING = 256
_PARSED = 1024
_LISTED_ITEM = re.compile(r"^\s*\d+\.\s+(?P<title>.+?)(?:\s+—\s+.*)?$", re.MULTILINE)


class OfflineBrain(Brain):
    """The embedded brain: understands requests from the catalog's own vocabulary and drives the tools.

    No model is called; a turn is a parse plus a few tool calls. Unknown users get the tools'
    cold-start path. The discovery tools (:data:`recpilot.tools.DISCOVERY_TOOLS`, registered by
    default) give it text similarity on vague requests and leave seen items out of non-personal
    rankings; without them the brain falls back to keyword search and says less.

    Args:
        description_pool: How many of the best text matches a description ("uplifting") keeps as
            candidates before ranking.
        description_weight: Weight of text-match scores against the ranking model's (0 to 1).
        similarity_weight: Weight of similarity to the items referred to ("like Heat") against the
            ranking model's (0 to 1): the request is about them, taste breaks ties.
        content_weight: In similarity to referred items, the weight of content (genres, tags, text)
            against co-watching (0 to 1).
        clarify_policy: An ask-or-recommend policy (instance, registry name such as
            ``"preference-weighted"`` or ``{"class", "config"}`` spec): a vague first request of a
            user without history ("something to watch tonight") then gets one attribute question
            instead of a blind list. None never asks.
        act_classifier: How dialogue acts are recognised: ``"auto"`` (the MiniLM classifier when the
            ``[embed]`` extra is installed, the rules otherwise), ``"rules"``, or a classifier.
    """

    name = "offline"

    def __init__(
        self,
        *,
        description_pool: int = 60,
        description_weight: float = 0.7,
        similarity_weight: float = 0.9,
        content_weight: float = 0.5,
        clarify_policy: ConversationPolicy[Any] | str | Mapping[str, Any] | None = None,
        act_classifier: ActClassifier | str = "auto",
    ) -> None:
        self.settings = PlanSettings(description_pool, description_weight, similarity_weight, content_weight)
        if isinstance(clarify_policy, str | Mapping):
            from recpilot.conversation.policy import build_policy

            clarify_policy = build_policy(clarify_policy)
        self.conversation = OfflineConversation(clarify_policy)
        if isinstance(act_classifier, str):
            from recpilot.understanding.act_classifier import build_act_classifier

            self._classifier = build_act_classifier(act_classifier)
        else:
            self._classifier = act_classifier
        self._vocabularies: weakref.WeakKeyDictionary[Catalog, CatalogVocabulary] = (
            weakref.WeakKeyDictionary()
        )
        # Recent messages parsed, by catalog: a session's request is re-read from its messages each turn.
        self._parsed: weakref.WeakKeyDictionary[Catalog, OrderedDict[str, ParsedRequest]] = (
            weakref.WeakKeyDictionary()
        )
        # Outcomes of act() waiting for compose(), by tool runner (one per turn).
        self._pending: OrderedDict[int, Outcome] = OrderedDict()

    def vocabulary(self, catalog: Catalog) -> CatalogVocabulary:
        """The catalog's vocabulary, built on first use and kept while the catalog lives."""
        vocabulary = self._vocabularies.get(catalog)
        if vocabulary is None:
            vocabulary = CatalogVocabulary.from_catalog(catalog)
            self._vocabularies[catalog] = vocabulary
        return vocabulary

    def parse(self, message: str, catalog: Catalog) -> ParsedRequest:
        """One message as a request, its soft modifiers ("but lighter") cut out first (see
        :mod:`~recpilot.understanding.modifiers`)."""
        parsed = self._parsed.get(catalog)
        if parsed is None:
            parsed = self._parsed[catalog] = OrderedDict()
        cached = parsed.get(message)
        if cached is None:
            modifiers = find_modifiers(message)
            cached = parse_request(modifiers.rest, self.vocabulary(catalog))
            if (modifiers.moods or modifiers.length) and cached.intent == "chitchat":
                cached = ParsedRequest(refinement="adjust")
            elif (modifiers.moods or modifiers.length) and not cached.understood():
                cached.refinement = "adjust"
            parsed[message] = cached
            while len(parsed) > _PARSED:
                parsed.popitem(last=False)
        return cached.model_copy(deep=True)  # callers refine and adjust what they get

    def understand(self, turn: Turn, catalog: Catalog, state: DialogueState | None = None) -> ParsedRequest:
        """Parse the turn's message, folding in the session's earlier requests when it refines them."""
        parsed = self.parse(turn.message, catalog)
        if parsed.intent != "recommend":
            return parsed
        previous = self.previous_request(turn, catalog, state)
        if previous is None:
            return parsed
        if parsed.refinement == "new" and _only_narrows(parsed):
            parsed.refinement = (
                "adjust"  # "from the 2000s instead", "only after 1990": the same list, narrowed
            )
        if parsed.refinement == "new":
            return parsed
        merged = refine(previous, parsed)
        if parsed.refinement == "more":
            shown = [i for page in state.shown for i in page] if state is not None else []
            shown = shown or [str(i) for i in _shown_items(turn, self.vocabulary(catalog))]
            merged.constraints.exclude_items = list(
                dict.fromkeys([*merged.constraints.exclude_items, *_coerced(catalog, shown)])
            )
        return merged

    def previous_request(
        self, turn: Turn, catalog: Catalog, state: DialogueState | None = None
    ) -> ParsedRequest | None:
        """The session's recommendation request so far: earlier requests folded together (feed
        commands, critiques, picks, answers and questions about items are not requests).

        The state's :attr:`~recpilot.memory.DialogueState.requests` says which messages those are;
        a state stored before it existed falls back to re-reading the dialogue.
        """
        if state is not None and state.requests is not None:
            messages = state.requests
        else:
            messages = [
                t.content
                for t in turn.dialogue
                if t.role == "user" and not self.conversation.is_command(t.content, catalog)
            ]
        previous: ParsedRequest | None = None
        for message in messages:
            request = self.parse(message, catalog)
            if request.intent != "recommend":
                continue
            if previous is not None and request.refinement == "new" and _only_narrows(request):
                request.refinement = "adjust"
            previous = (
                refine(previous, request) if previous is not None and request.refinement != "new" else request
            )
        return previous

    def read_act(self, turn: Turn, catalog: Catalog, state: DialogueState) -> DialogueAct | None:
        """The message's dialogue act (:mod:`~recpilot.understanding.acts`) when it is about the
        conversation; None for requests, critiques, refusals and answers to a question the brain asked."""
        if self.conversation.is_answer(turn.message, state) or refusal(turn.message):
            return None
        classifier = self.classifier()
        if classifier is not None and _clear_request(self.parse(turn.message, catalog)):
            classifier = None  # a genre, period, title or ranking: a request; the encoder is not needed
        shown = shown_items(catalog, state)
        return read_act(turn.message, shown, state.focus_item, classifier, state.discussed)

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        """Understand the message and run the tools (see the module docstring)."""
        self._pending.pop(id(tools), None)
        ctx = tools.context
        catalog = ctx.catalog
        state = ctx.dialogue or DialogueState(session_id=turn.session_id, user_id=turn.user_id)
        ctx.dialogue = state
        feed = self.conversation.handle_feed(turn, tools)
        if feed is not None:
            return feed
        previous = self.previous_request(turn, catalog, state)
        dialogue_act = self.read_act(turn, tools.context.catalog, state)
        if dialogue_act is not None:
            tools.trace.append(
                TraceStep(
                    kind="plan", name=dialogue_act.kind, detail=f"dialogue act by {dialogue_act.reason}"
                )
            )
            handled: Handled | None = self.followups(catalog).handle(dialogue_act, tools, state, previous)
        else:
            handled = self.conversation.handle(turn, tools, previous)
        if handled is not None and handled.act is not None:
            return handled.act
        if handled is not None and handled.request is not None:
            return self._recommend(tools, handled.request, handled.notes)
        parsed = self.understand(turn, catalog, state)
        services = ServiceReplies(tools, self.vocabulary(catalog))
        if parsed.intent == "recommend":
            early = self.conversation.off_topic(turn.message, parsed) or self.conversation.clarify(
                turn, tools, parsed
            )
            if early is not None:
                return early
        match parsed.intent:
            case "recommend":
                notes = reconcile_answers(tools.context.dialogue, parsed)
                notes.extend(apply_modifiers(state, find_modifiers(turn.message), catalog))
                state.requests = (
                    [turn.message] if parsed.refinement == "new" else [*(state.requests or []), turn.message]
                )
                return self._recommend(tools, parsed, notes)
            case "details":
                return Act(intent="details", reply=services.details(parsed), note="details")
            case "profile":
                return Act(intent="profile", reply=services.profile(), note="profile")
            case "forget":
                return Act(intent="forget", reply=services.forget(parsed), note="forget")
            case "remember":
                return Act(intent="remember", reply=services.remember(parsed), note="remember")
            case "refuse":
                tools.run_plan(Plan(intent="refuse", note=f"refused: {parsed.refusal}"))
                return Act(
                    intent="refuse",
                    reply=REFUSALS.get(parsed.refusal or "", REFUSALS["instructions"]),
                    note="refused",
                )
            case _:
                return Act(intent="chitchat", reply=CHITCHAT_REPLY, note="chitchat")

    def followups(self, catalog: Catalog) -> FollowUps:
        """The answers to dialogue acts over ``catalog``."""
        vocabulary = self.vocabulary(catalog)

        def titles(phrase: str) -> list[Any]:
            words = tokenize(phrase)
            return [r.item_id for r in ReferenceFinder(words, vocabulary).bare_titles(whole=True)]

        return FollowUps(catalog, vocabulary, lambda text: self.parse(text, catalog), titles)

    def classifier(self) -> ActClassifier | None:
        """The learned act classifier, or None (rules only)."""
        return self._classifier

    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        """A template reply naming what was understood, relaxed or not found, then the items."""
        outcome = self._pending.pop(id(tools), None) or _outcome_from(
            act, tools.context, self.vocabulary(tools.context.catalog)
        )
        shown = items[: outcome.count] if outcome.count else items
        item_ids: list[ItemId] | None = [i.item_id for i in shown] if len(shown) != len(items) else None
        return Composition(reply=recommendation_reply(outcome, shown), item_ids=item_ids)

    # -- recommending ------------------------------------------------------------------------------------

    def _recommend(self, tools: ToolRunner, parsed: ParsedRequest, notes: Sequence[str] = ()) -> Act:
        ctx = tools.context
        if ctx.dialogue is not None and ctx.dialogue.seen_items:  # "I've seen that one": never again
            seen = _coerced(ctx.catalog, ctx.dialogue.seen_items)
            parsed.constraints.exclude_items = list(dict.fromkeys([*parsed.constraints.exclude_items, *seen]))
        vocabulary = self.vocabulary(ctx.catalog)
        outcome = Outcome(
            noun=vocabulary.noun,
            count=parsed.count,
            topics=[t for t in (*parsed.topics, parsed.leftover) if t],
            period=parsed.period,
            notes=list(notes),
        )
        services = ServiceReplies(tools, vocabulary)
        outcome.notes.extend(services.remember_stated(parsed))
        constraints = self._with_remembered_dislikes(ctx, parsed, outcome)
        outcome.groups = [g.values for g in parsed.required_groups()]
        outcome.excluded = [
            (a, v) for a, values in parsed.constraints.exclude_attributes.items() for v in values
        ]
        outcome.year = constraints.numeric.get(YEAR_ATTRIBUTE)
        outcome.personalised = ctx.dataset_user is not None or bool(ctx.liked_items())
        outcome.model = self._ranking_model(ctx, parsed, outcome)
        if parsed.unresolved:
            names = ", ".join(f"“{u}”" for u in parsed.unresolved)
            outcome.notes.append(f"I couldn't find {names} in the catalog, so I left it out.")
        outcome.notes.extend(f"({w[0].upper()}{w[1:]}.)" for w in parsed.warnings)
        liked = [ref for ref in parsed.liked if ref.item_id is not None]
        outcome.similar_to = [pretty_title(ref.title or ref.text) for ref in liked]
        self._run(tools, parsed, constraints, liked, outcome)
        self._remember_outcome(tools, outcome)
        note = f"parsed {parsed.model_dump(exclude_defaults=True, exclude={'remember'})}"
        return Act(intent="recommend", constraints=constraints, note=note[:500])

    def _run(
        self,
        tools: ToolRunner,
        parsed: ParsedRequest,
        constraints: HardConstraints,
        liked: list[ItemReference],
        outcome: Outcome,
    ) -> None:
        """Run the plan, then again without a soft part that left nothing (at most a few times)."""
        ctx = tools.context
        description = parsed.description
        skip_seen = False
        # "Like X" first narrows to what is similar to X (fast, and similarity stays the main signal);
        # when the hard constraints leave too little of that, similarity is computed over their matches.
        similar_first = bool(liked)
        wanted = parsed.count or _DEFAULT_COUNT
        k = min(_MAX_RANKED, max(wanted, _DEFAULT_COUNT) + 10 + len(constraints.exclude_items))
        for tries in range(4):
            if tries:
                ctx.candidates, ctx.constraints, ctx.referenced = CandidateSet(), HardConstraints(), []
            seen = (
                outcome.personalised and not skip_seen and tools.dispatcher.spec("exclude_seen") is not None
            )
            seen = seen and (
                outcome.model not in ("collaborative", "sequential") or bool(description or liked)
            )
            attempt = Attempt(description, liked, similar_first, seen, k, wanted)
            plan = recommendation_plan(tools, parsed, constraints, outcome.model, attempt, self.settings)
            # By tool name: the last search is the one that narrowed the candidates most.
            records = {r.name: r for r in tools.run_plan(plan)}
            failed = [r for r in records.values() if not r.ok]
            if failed and failed[0].name == "match_description" and description:
                description = ""  # a content model without text similarity: rank without the description
                continue
            if failed:
                outcome.notes.append(f"Something went wrong on my side ({failed[0].error}).")
                break
            ranked = len(ctx.candidates.ranked)
            if similar_first and ranked < min(wanted, 5) and not constraints.is_empty():
                similar_first = False
                continue
            searched = records.get("search_catalog")
            matched = _data(records.get("match_description"), "matched")
            if searched is not None and _data(searched, "count") == 0:
                if matched is not None and describe_first(parsed, constraints):
                    matched = 0  # the exclusions removed every text match: retry without the description
                else:
                    outcome.suggestion = self._suggest(tools, parsed, constraints)
                    break
            label = in_words(parsed) or description
            # Keyword search (without the text tool) is a hard filter: a handful of hits is too few.
            keyword_miss = description and "match_description" not in records and ranked < min(wanted, 5)
            if description and (matched == 0 or keyword_miss):
                few = ", ".join(ctx.catalog.title(i) for i, _ in ctx.candidates.ranked[:3])
                hits = ranked if keyword_miss else 0
                found = (
                    f"Only {hits} titles matched “{label}” ({few})" if hits else f"Nothing matched “{label}”"
                )
                outcome.notes.append(f"{found}, so I left that out.")
                outcome.topics, description = [], ""
                continue
            if matched is not None and 0 < matched < wanted:
                outcome.notes.append(
                    f"Only {matched} of them match “{label}” closely; the rest are the best of the others."
                )
            if seen and not ranked:
                outcome.notes.append(
                    "You have already rated every title that matches, so these include ones you've seen."
                )
                skip_seen = True
                continue
            outcome.seen_filtered = seen
            outcome.blended = bool(description or liked)
            break
        outcome.topics = outcome.topics if description else []

    def _ranking_model(self, ctx: ToolContext, parsed: ParsedRequest, outcome: Outcome) -> str:
        model = parsed.ranking or "collaborative"
        if model in ("sequential", "content") and model not in ctx.models:
            outcome.notes.append(f"(No {model} model is loaded, so I ranked by taste instead.)")
            model = "collaborative"
        if model == "sequential" and ctx.dataset_user is None:
            model = "collaborative"
        if model == "collaborative" and model not in ctx.models:
            model = "popularity"  # a runtime without a taste model still answers
        return model

    def _with_remembered_dislikes(
        self, ctx: ToolContext, parsed: ParsedRequest, outcome: Outcome
    ) -> HardConstraints:
        """The request's constraints plus the genres the user told us they dislike (unless asked now)."""
        constraints = parsed.constraints.model_copy(deep=True)
        wanted = {v.lower() for g in parsed.required_groups() for v in g.values}
        stated = {n.value for n in parsed.remember}
        applied: list[str] = []
        for value in ctx.memory.profile(ctx.user_id).values("dislike_attribute"):
            attribute, _, disliked = value.partition("=")
            if not disliked or disliked.lower() in wanted or value in stated:
                continue
            current = constraints.exclude_attributes.setdefault(attribute, [])
            if disliked not in current:
                current.append(disliked)
                applied.append(disliked)
        if applied:
            outcome.notes.append(f"I left out {', '.join(applied)}, which you told me you don't like.")
        return constraints

    def _suggest(self, tools: ToolRunner, parsed: ParsedRequest, constraints: HardConstraints) -> str:
        """When hard constraints match nothing: how many items dropping one of them would give."""
        ctx = tools.context
        groups = [(g.attribute, g.values) for g in parsed.required_groups()]
        excluded = dict(constraints.exclude_attributes)
        numeric = {n: r.model_dump() for n, r in constraints.numeric.items()}
        options: list[tuple[str, list[tuple[str, list[str]]], dict[str, Any], dict[str, Any]]] = []
        if numeric:
            options.append(("the period", groups, excluded, {}))
        if excluded:
            options.append(("the exclusions", groups, {}, numeric))
        for position, (_, values) in enumerate(groups):
            label = " or ".join(genre_label(v) for v in values)
            options.append((f"“{label}”", groups[:position] + groups[position + 1 :], excluded, numeric))
        best: tuple[int, str] | None = None
        for label, kept, without, years in options:
            ctx.candidates = CandidateSet()
            searches = [{"attributes": {a: v}} for a, v in kept] or [{}]
            searches[0] = {**searches[0], "exclude_attributes": without, "numeric": years}
            for args in searches:
                tools.call("search_catalog", {**args, "limit": 10_000})
            count = max(len(ctx.candidates), 0)
            if count and (best is None or count > best[0]):
                best = (count, label)
        ctx.candidates, ctx.constraints = CandidateSet(), HardConstraints()
        if best is None:
            return "Try asking with fewer conditions."
        return f"Without {best[1]} there would be {best[0]}; ask again without it if that works for you."

    def _remember_outcome(self, tools: ToolRunner, outcome: Outcome) -> None:
        self._pending[id(tools)] = outcome
        while len(self._pending) > _PENDING:
            self._pending.popitem(last=False)


def _data(record: Any, key: str) -> Any:
    if record is None or not record.ok or record.output is None:
        return None
    return record.output.data.get(key)


def _shown_items(turn: Turn, vocabulary: CatalogVocabulary) -> list[ItemId]:
    """Items listed in the assistant's earlier replies of the session (for "show me more")."""
    shown: list[ItemId] = []
    for earlier in turn.dialogue:
        if earlier.role != "assistant":
            continue
        for match in _LISTED_ITEM.finditer(earlier.content):
            index = vocabulary.find_display_title(match.group("title").strip())
            if index is not None:
                shown.append(vocabulary.items[index])
    return shown


def _clear_request(parsed: ParsedRequest) -> bool:
    """A message the parser reads as a request with something to look for (or a non-request intent)."""
    if parsed.intent != "recommend":
        return parsed.intent != "chitchat"
    c = parsed.constraints
    return bool(c.attributes or c.numeric or c.exclude_attributes or parsed.liked or parsed.ranking)


def _only_narrows(parsed: ParsedRequest) -> bool:
    """A request that only narrows (a period, an exclusion, a count), naming nothing to look for."""
    c = parsed.constraints
    named = c.attributes or parsed.liked or parsed.topics or parsed.leftover or parsed.ranking
    return not named and bool(c.numeric or c.exclude_attributes or parsed.count)


def _coerced(catalog: Catalog, items: list[str]) -> list[ItemId]:
    return [catalog.coerce_item_id(i) for i in items if catalog.has_item(i)]


def _outcome_from(act: Act, ctx: ToolContext, vocabulary: CatalogVocabulary) -> Outcome:
    """An outcome rebuilt from the act alone, when another brain acted (the LLM brain's fallback)."""
    constraints = act.constraints.merged(ctx.constraints)
    return Outcome(
        groups=[list(v) for v in constraints.attributes.values()],
        excluded=[(a, v) for a, values in constraints.exclude_attributes.items() for v in values],
        year=constraints.numeric.get(YEAR_ATTRIBUTE),
        similar_to=[pretty_title(ctx.catalog.title(i)) for i in ctx.referenced if ctx.catalog.has_item(i)],
        model=ctx.candidates.ranked_by or "collaborative",
        personalised=ctx.dataset_user is not None or bool(ctx.liked_items()),
        noun=vocabulary.noun,
    )
