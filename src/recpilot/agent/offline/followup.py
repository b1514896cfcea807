"""The offline brain's answers to dialogue acts about what was shown (see :mod:`recpilot.understanding.acts`).

Questions about a shown item, "why", comparisons, chit-chat, closings and messages it cannot read get
a complete reply; "more", "something different" and marking items seen, liked or disliked become a
recommendation request to run (the current request, with what was shown or marked left out). A
reference that cannot be resolved gets a reply naming the problem and leaves the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recpilot.agent.brain import Act, ToolRunner
from recpilot.agent.explain import explain, why_sentence
from recpilot.agent.offline.conversation import Handled
from recpilot.agent.offline.item_answers import answer_question, compare_reply, rating_of
from recpilot.agent.offline.replies import CHITCHAT_REPLY, Outcome
from recpilot.agent.types import Plan, PlanStep, Reason
from recpilot.conversation.critiques import ParsedCritique, apply_critique
from recpilot.memory.dialogue import DialogueState
from recpilot.tools.context import Catalog, ToolContext
from recpilot.understanding.acts import DialogueAct
from recpilot.understanding.request import ParsedRequest
from recpilot.understanding.shown import find_references, normalise, shown_items
from recpilot.understanding.vocabulary import CatalogVocabulary, pretty_title

#: Parses a message into a request (the brain's parser with the catalog vocabulary bound).
RequestParser = Callable[[str], ParsedRequest]
#: Finds catalog titles in a phrase ("Ronin"): item ids, best first.
TitleFinder = Callable[[str], list[Any]]

HOW_TO_ASK = (
    "You can ask for a genre and a period (“a horror film from the 80s”), a title you liked (“something "
    "like Heat but newer”), or ask about a title I showed (“is the second one violent?”, “why the "
    "third one?”)."
)
_NO_WORDS = "I couldn't read any words in that message. " + HOW_TO_ASK
_THANKS = "You're welcome! Ask for more whenever you like."
_SMALL_TALK = "Happy to chat, but films are what I know best. " + HOW_TO_ASK
_WHY_LIMIT = 3


class FollowUps:
    """Answers the dialogue acts (:mod:`recpilot.understanding.acts`) for the offline brain.

    Args:
        catalog: The catalog.
        vocabulary: The catalog vocabulary.
        parse: The request parser (for saying what a message in another language seemed to ask).
        find_titles: Catalog title lookup for comparisons of titles that were not shown.
    """

    def __init__(
        self, catalog: Catalog, vocabulary: CatalogVocabulary, parse: RequestParser, find_titles: TitleFinder
    ) -> None:
        self.catalog = catalog
        self.vocabulary = vocabulary
        self.parse = parse
        self.find_titles = find_titles

    def handle(
        self, act: DialogueAct, tools: ToolRunner, state: DialogueState, previous: ParsedRequest | None
    ) -> Handled:
        """A complete answer, or a request to run, for ``act`` (see the module docstring)."""
        match act.kind:
            case "not_understood":
                return Handled(act=self._not_understood(act))
            case "close":
                return Handled(act=self._close(act, tools.context, state))
            case "chitchat":
                return Handled(act=self._chitchat(act))
            case "ask_item":
                return self._ask_item(act, tools, state)
            case "ask_why":
                return self._ask_why(act, tools, state, previous)
            case "compare":
                return self._compare(act, tools, state)
            case "mark":
                return self._mark(act, tools, state, previous)
            case "more":
                return self._more(state, previous)
            case _:
                return self._different(state, previous)

    # -- complete answers --------------------------------------------------------------------------------

    def _not_understood(self, act: DialogueAct) -> Act:
        if not any(ch.isalnum() for ch in act.text):
            return _kept(_NO_WORDS, "not understood: no words")
        parsed = self.parse(act.text)
        outcome = Outcome(
            groups=[g.values for g in parsed.required_groups()],
            year=parsed.constraints.numeric.get("year"),
            noun=self.vocabulary.noun,
        )
        guess = outcome.subject() if outcome.groups or outcome.year else ""
        reply = "Sorry, I only understand English, so I couldn't read that message. "
        if guess and guess != self.vocabulary.noun:
            reply += f"If you meant {guess}, ask me “{guess}”. "
        return _kept(reply + HOW_TO_ASK, "not understood: another language")

    def _close(self, act: DialogueAct, ctx: ToolContext, state: DialogueState) -> Act:
        chosen = act.refs.items[:1] if not act.refs.problem else []
        for item in chosen:  # "perfect, I'll watch the first one"
            state.accept_item(str(item))
            state.focus_item = str(item)
        picked = state.accepted_items[-1] if state.accepted_items else state.focus_item
        enjoy = "Enjoy your film!"
        if picked is not None and _known(ctx, picked):
            enjoy = f"Enjoy {pretty_title(ctx.catalog.title(picked))}!"
        return Act(
            intent="chitchat", reply=f"{enjoy} Come back whenever you want more ideas.", note="act: close"
        )

    def _chitchat(self, act: DialogueAct) -> Act:
        words = act.text.split()
        if any(w in ("thanks", "thank", "thx", "ty", "cheers") for w in words):
            reply = _THANKS
        elif words and words[0] in (
            "hi",
            "hello",
            "hey",
            "hiya",
            "yo",
            "howdy",
            "good",
            "help",
            "what",
            "who",
            "how",
        ):
            reply = CHITCHAT_REPLY
        else:
            reply = _SMALL_TALK
        return Act(intent="chitchat", reply=reply, note="act: chitchat", keep_state=True)

    def _ask_item(self, act: DialogueAct, tools: ToolRunner, state: DialogueState) -> Handled:
        items = act.refs.items
        if act.refs.problem or not items:
            return Handled(act=_kept(act.refs.problem or _WHICH, "bad reference"))
        ctx = tools.context
        records = tools.run_plan(
            Plan(
                intent="details",
                steps=[PlanStep(tool="item_details", args={"items": [str(i) for i in items[:3]]})],
            )
        )
        rows: list[dict[str, Any]] = []
        if records and records[0].ok and records[0].output is not None:
            rows = records[0].output.data.get("items", [])
        if not rows:
            return Handled(act=_kept("I couldn't look that up just now; please try again.", "details failed"))
        answers = [answer_question(act.text, row, rating_of(ctx, row["item_id"])) for row in rows]
        state.focus_item = str(items[-1]) if len(items) == 1 else state.focus_item
        state.discussed = [str(i) for i in items]
        return Handled(act=Act(intent="details", reply=" ".join(answers), note="act: ask_item"))

    def _ask_why(
        self, act: DialogueAct, tools: ToolRunner, state: DialogueState, previous: ParsedRequest | None
    ) -> Handled:
        refs = act.refs
        if refs.problem:
            return Handled(act=_kept(refs.problem, "bad reference"))
        items = refs.items or ([state.focus_item] if state.focus_item else state.last_shown[:_WHY_LIMIT])
        if not items:
            return Handled(act=_kept(_NOTHING_TO_EXPLAIN, "nothing to explain"))
        ctx = tools.context
        request = previous or ParsedRequest()
        model = _model_of(ctx, request)
        sentences = []
        for item in items[:_WHY_LIMIT]:
            if not _known(ctx, item):
                continue
            coerced = ctx.catalog.coerce_item_id(item)
            reasons = explain(ctx, coerced, request.constraints, ranked_by=model)
            reasons[0:0] = _request_reasons(ctx, coerced, request, state)
            sentences.append(why_sentence(pretty_title(ctx.catalog.title(coerced)), _ordered(reasons)))
        if len(items) == 1:
            state.focus_item = str(items[0])
        state.discussed = [str(i) for i in items[:_WHY_LIMIT]]
        return Handled(act=Act(intent="details", reply=" ".join(sentences), note="act: ask_why"))

    def _compare(self, act: DialogueAct, tools: ToolRunner, state: DialogueState) -> Handled:
        ctx = tools.context
        items = [str(i) for i in act.refs.items]
        if len(items) < 2:
            items, missing = self._compared_items(act, state)
            if missing:
                names = " or ".join(f"“{m}”" for m in missing)
                reply = (
                    f"I couldn't find {names} in the catalog, so I can't compare them. Check the "
                    "spelling, or compare two titles I showed (“the first or the third?”)."
                )
                return Handled(act=_kept(reply, "compare: unknown title"))
        if act.refs.problem and len(items) < 2:
            return Handled(act=_kept(act.refs.problem, "bad reference"))
        if len(items) < 2:
            reply = "Which two titles should I compare? Name them (“Heat or Ronin?”) or give their numbers."
            return Handled(act=_kept(reply, "compare: fewer than two"))
        tools.run_plan(
            Plan(intent="details", steps=[PlanStep(tool="item_details", args={"items": items[:2]})])
        )
        reply, pick = compare_reply(ctx, [ctx.catalog.coerce_item_id(i) for i in items[:2]])
        state.focus_item = str(pick)
        state.discussed = items[:2]
        return Handled(act=Act(intent="details", reply=reply, note="act: compare"))

    def _compared_items(self, act: DialogueAct, state: DialogueState) -> tuple[list[str], list[str]]:
        shown = shown_items(self.catalog, state)
        items: list[str] = []
        missing: list[str] = []
        for option in act.titles:
            refs = find_references(normalise(option), shown, state.focus_item, numbers=True)
            if refs.items:
                items.append(str(refs.items[0]))
                continue
            found = self.find_titles(option)
            if found:
                items.append(str(found[0]))
            else:
                missing.append(option)
        return list(dict.fromkeys(items)), missing

    # -- requests to run ---------------------------------------------------------------------------------

    def _mark(
        self, act: DialogueAct, tools: ToolRunner, state: DialogueState, previous: ParsedRequest | None
    ) -> Handled:
        refs = act.refs
        if refs.problem or not refs.items:
            return Handled(act=_kept(refs.problem or _WHICH, "bad reference"))
        ctx = tools.context
        items = [str(i) for i in refs.items]
        titles = " and ".join(pretty_title(ctx.catalog.title(ctx.catalog.coerce_item_id(i))) for i in items)
        if act.mark == "seen":
            state.seen_items = list(dict.fromkeys([*state.seen_items, *items]))
            note = f"Noted: you've seen {titles}, so I replaced {'them' if len(items) > 1 else 'it'}."
        else:
            kind = "like_item" if act.mark == "liked" else "dislike_item"
            for item in items:
                tools.call("remember_preference", {"kind": kind, "value": item})
                if act.mark == "liked":
                    state.accept_item(item)
                    state.seen_items = list(dict.fromkeys([*state.seen_items, item]))
                else:
                    state.reject_item(item)
            state.focus_item = items[-1]
            verb = "liked" if act.mark == "liked" else "didn't like"
            them = "them" if len(items) > 1 else "it"
            note = f"Noted: you {verb} {titles}; I'll remember that and replaced {them}."
        shown_before = [i for page in state.shown for i in page]
        kept = [i for i in state.last_shown if i not in items]
        request = (previous or ParsedRequest()).model_copy(deep=True)
        request.refinement = "more"
        request.count = len(state.last_shown) or request.count
        leave_out = [i for i in shown_before if i not in kept] + state.seen_items + state.rejected_items
        request.constraints.exclude_items = _coerced(ctx, [*request.constraints.exclude_items, *leave_out])
        return Handled(request=request, notes=[note])

    def _more(self, state: DialogueState, previous: ParsedRequest | None) -> Handled:
        request = (previous or ParsedRequest()).model_copy(deep=True)
        request.refinement = "more"
        if state.last_shown:
            request.count = request.count or len(state.last_shown)
        shown = [i for page in state.shown for i in page]
        request.constraints.exclude_items = list(
            dict.fromkeys([*request.constraints.exclude_items, *shown, *state.seen_items])
        )
        notes = [] if shown else ["(I hadn't shown anything yet, so here is a first list.)"]
        return Handled(request=request, notes=notes)

    def _different(self, state: DialogueState, previous: ParsedRequest | None) -> Handled:
        critique = ParsedCritique(kind="other", text="something different")
        apply_critique(state, critique)
        request = (previous or ParsedRequest()).model_copy(deep=True)
        request.refinement = "adjust"
        shown = [i for page in state.shown for i in page]
        request.constraints.exclude_items = list(dict.fromkeys([*request.constraints.exclude_items, *shown]))
        return Handled(request=request, notes=["Here are some different ones."])


_WHICH = "Which title do you mean? Say its number in the list or its title."
_NOTHING_TO_EXPLAIN = (
    "I haven't suggested anything yet in this conversation, so there is nothing to explain. "
    "Ask me for something first, for example “a 90s comedy”."
)


def _kept(reply: str, note: str) -> Act:
    return Act(intent="chitchat", reply=reply, note=f"act: {note}", keep_state=True)


def _known(ctx: ToolContext, item: str | None) -> bool:
    return item is not None and ctx.catalog.has_item(item)


def _coerced(ctx: ToolContext, items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(ctx.catalog.coerce_item_id(i) for i in items if ctx.catalog.has_item(i)))


def _model_of(ctx: ToolContext, request: ParsedRequest) -> str:
    model = request.ranking or "collaborative"
    if model not in ctx.models and model not in ("popularity", "top_rated"):
        model = "popularity"
    if model == "collaborative" and ctx.dataset_user is None and not ctx.liked_items():
        model = "popularity"
    return model


def _request_reasons(
    ctx: ToolContext, item: Any, request: ParsedRequest, state: DialogueState
) -> list[Reason]:
    """Evidence from the conversation: the titles the request compared to, the user's critiques."""
    reasons: list[Reason] = []
    liked = [r for r in request.liked if r.item_id is not None]
    if liked:
        names = " and ".join(pretty_title(r.title or r.text) for r in liked)
        reasons.append(
            Reason(
                kind="similar_to",
                text=f"it's close to {names}, which you mentioned",
                evidence={"items": [r.item_id for r in liked]},
            )
        )
    genres = {str(g) for g in ctx.catalog.row(item).get("genres") or []}
    avoided = [a.partition("=")[2] for a, w in state.attribute_weights.items() if w < 0]
    kept_clear = [g for g in avoided if g and g not in genres]
    if kept_clear:
        listed = ", ".join(g.lower() for g in kept_clear[:3])
        reasons.append(
            Reason(
                kind="constraint",
                text=f"it steers clear of {listed}, as you asked",
                evidence={"avoided": kept_clear},
            )
        )
    return reasons


def _ordered(reasons: list[Reason]) -> list[Reason]:
    order = {"constraint": 0, "similar_to": 1, "text_match": 1, "history": 2, "model": 3}
    return sorted(reasons, key=lambda r: order.get(r.kind, 2))
