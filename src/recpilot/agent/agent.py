"""The recommender agent: one turn = understand, act through tools, ground, explain, reply, remember."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.events import DoneEvent, EventSink, ItemEvent, ReplyEvent, Trace, TurnEvent
from recpilot.agent.explain import explain
from recpilot.agent.grounding import ground, resolve_named, with_users_constraints
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.requested import Judgement, judge_turn
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.safeguards import audit_turn, confirmed_call, contradicted, rank_stated
from recpilot.agent.types import (
    AgentResponse,
    Reason,
    RecommendedItem,
    TraceStep,
    Usage,
)
from recpilot.conversation.critiques import critique_adjuster
from recpilot.conversation.feed import apply_feed_rules, feed_adjuster
from recpilot.conversation.tools import CONVERSATION_TOOLS
from recpilot.llm.errors import LLM_UNAVAILABLE_NOTE
from recpilot.memory.base import DialogueTurn
from recpilot.memory.condense import condense_dialogue
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import FeedRule
from recpilot.memory.integrity import MemorySnapshot
from recpilot.memory.provenance import MessageSource, ProvenanceVia
from recpilot.memory.summary import build_profile_summary
from recpilot.safety.request import UserRequest, refusal_sentence
from recpilot.tools.account_tools import ACCOUNT_TOOLS
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolDispatcher, ToolPolicy, ToolSpec
from recpilot.tools.recommender_tools import RECOMMENDER_TOOLS

logger = logging.getLogger("recpilot.agent")

MAX_MESSAGE_CHARS = 10_000
#: The agent's default tools: the recommender tools, critiques, feed rules and forgetting everything.
DEFAULT_TOOLS: tuple[ToolSpec, ...] = (*RECOMMENDER_TOOLS, *CONVERSATION_TOOLS, *ACCOUNT_TOOLS)
_RULES_NOTE = "(Your feed rules are in force and may leave nothing; say “what are my rules?” to see them.)"


class RecommenderAgent:
    """An agent whose brain drives recommender tools over a real catalog.

    Args:
        runtime: Catalog, fitted models and memory (see :func:`recpilot.agent.runtime.build_runtime`).
        brain: The deciding brain; defaults to the offline brain.
        fallback: The brain that completes a turn when ``brain`` fails (the offline brain).
        tools: The tools available (defaults to :data:`DEFAULT_TOOLS`: the recommender tools, critiques
            and feed rules).
        policy: Access policy for tool calls (default: :func:`recpilot.safety.default_policy`: writes
            only when the user's own message asks for them).
        k: Items per answer.
        enforce_stated_constraints: Ground every shown item on the constraints parsed from the user's
            own words, whatever a brain planned (turned off only to measure what it prevents).
    """

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        brain: Brain | None = None,
        fallback: Brain | None = None,
        tools: Sequence[ToolSpec] = DEFAULT_TOOLS,
        policy: ToolPolicy | None = None,
        k: int = 10,
        enforce_stated_constraints: bool = True,
    ) -> None:
        self.runtime = runtime
        self.fallback = fallback or _offline_like(brain)
        self.brain = brain or self.fallback
        self.dispatcher = ToolDispatcher(tools, policy) if policy is not None else ToolDispatcher(tools)
        self.k = k
        self.enforce_stated_constraints = enforce_stated_constraints
        # Judges what the user's own words ask for (writes, hard constraints), whatever the brain.
        self._parser = self.fallback if isinstance(self.fallback, OfflineBrain) else _offline_like(self.brain)

    def respond(
        self,
        user: str | int,
        message: str,
        *,
        session_id: str | None = None,
        on_event: EventSink | None = None,
        source: MessageSource = "user",
    ) -> AgentResponse:
        """Answer one message (blocking). See :meth:`arespond`.

        Args:
            user: The user's id.
            message: What the user said.
            session_id: The dialogue session (default: the user's default session).
            on_event: Called with each :mod:`event <recpilot.agent.events>` of the turn as it happens,
                on the thread running the turn (how a server streams a turn it runs in a worker thread).
            source: Who wrote the message: the user, or a simulated user (kept as the provenance of
                what the turn writes).
        """
        turn = self._run(user, message, session_id, on_event, source)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(turn)
        # Called from inside an event loop (a notebook, a server): run the turn on a private loop.
        with _ThreadRunner() as runner:
            response: AgentResponse = runner.run(turn)
            return response

    async def arespond(
        self,
        user: str | int,
        message: str,
        *,
        session_id: str | None = None,
        source: MessageSource = "user",
    ) -> AgentResponse:
        """Answer one message: items (grounded, explained), reply text, tool trace and LLM usage.

        The response is the ``done`` event of :meth:`iter`.
        """
        turn = self.iter(user, message, session_id=session_id, source=source)
        done = [e async for e in turn if isinstance(e, DoneEvent)]
        return done[-1].response

    async def iter(
        self,
        user: str | int,
        message: str,
        *,
        session_id: str | None = None,
        source: MessageSource = "user",
    ) -> AsyncIterator[TurnEvent]:
        """The turn for one message as a stream of typed events (see :mod:`recpilot.agent.events`).

        Plans, tool calls and their results, fallbacks and rollbacks come as they happen; the items,
        the reply and ``done`` (with the whole :class:`AgentResponse`) once the turn is committed. A
        failed turn raises its exception here after the events before the failure. The turn runs as a
        task on the caller's loop, and tools run synchronously, so events made between two awaits of
        the brain (its model calls) arrive together at the next one; a server that must not block its
        loop runs :meth:`respond` with ``on_event`` in a worker thread instead. Leaving the loop early
        cancels the turn, which then leaves no memory write behind.
        """
        queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
        task = asyncio.ensure_future(self._run(user, message, session_id, queue.put_nowait, source))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield event
            task.result()  # a failed turn raises here
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _run(
        self,
        user: str | int,
        message: str,
        session_id: str | None,
        sink: EventSink | None,
        source: MessageSource = "user",
    ) -> AgentResponse:
        """One turn, its events sent to ``sink`` as they happen; items, reply and ``done`` last."""
        started = time.perf_counter()
        user_id = str(user)
        session = session_id or f"{user_id}:default"
        text = message.strip() if isinstance(message, str) else ""
        trace = Trace(sink=sink)
        if not text or len(text) > MAX_MESSAGE_CHARS:
            refusal = (
                "Tell me what you are in the mood for: a genre, a period, or a title you liked."
                if not text
                else f"Your message has {len(text):,} characters; please keep it under {MAX_MESSAGE_CHARS:,}."
            )
            response = AgentResponse(user_id=user_id, session_id=session, reply=refusal, brain="none")
        else:
            response = await self._answer(user_id, session, text, trace, source)
            ms = (time.perf_counter() - started) * 1000
            trace.append(TraceStep(kind="answer", name=response.brain, ms=ms))
            response.trace = list(trace)
        if sink is not None:
            for rank, item in enumerate(response.items, 1):
                sink(ItemEvent(rank=rank, item=item))
            sink(ReplyEvent(reply=response.reply, brain=response.brain, degraded=response.degraded))
            sink(DoneEvent(response=response))
        return response

    async def _answer(
        self, user_id: str, session: str, text: str, trace: Trace, source: MessageSource
    ) -> AgentResponse:
        memory = self.runtime.memory
        profile = memory.profile(user_id)
        dataset_user = self.runtime.catalog.dataset_user(user_id)
        if not profile.summary and dataset_user is not None:
            # Built once from the user's history, then kept (and shown) as part of the long-term profile.
            memory.set_summary(user_id, build_profile_summary(self.runtime.catalog.dataset, dataset_user))
            profile = memory.profile(user_id)
        turn = Turn(user_id, session, text, memory.turns(session), profile)
        state = memory.dialogue_state(session) or DialogueState(session_id=session, user_id=user_id)
        rules = memory.feed_rules(user_id)
        judgement = judge_turn(
            turn, self.runtime.catalog, state, self._parser, memory.feed_rules(user_id, include_expired=True)
        )
        # Provenance of this turn's writes: whose message, and what turns it into tool calls.
        via: ProvenanceVia = "offline_parser" if isinstance(self.brain, OfflineBrain) else "llm_plan"
        request = dataclasses.replace(judgement.request, source=source, via=via)
        context = self._context(user_id, request, state, rules)
        snapshot = MemorySnapshot.take(memory, user_id)

        def restart() -> ToolContext:
            # Undo the tool calls' writes; start from the saved state (a held call dropped stays dropped).
            snapshot.restore(memory)
            fresh = state.model_copy(update={"pending_call": None})
            return self._context(user_id, request, fresh, rules)

        runner = ToolRunner(self.dispatcher, context, trace, trace.sink, restart)
        try:
            return await self._turn(turn, runner, state, rules, judgement, snapshot)
        except BaseException:
            snapshot.restore(memory)  # a failed turn leaves no write behind
            raise

    def _context(
        self, user_id: str, request: UserRequest, state: DialogueState, rules: list[FeedRule]
    ) -> ToolContext:
        """A fresh context for the turn's tools: the user's request, a copy of the session state, and a
        ranking that obeys the feed rules and critiques."""
        context = ToolContext(self.runtime.catalog, self.runtime.models, self.runtime.memory, user_id)
        context.request = request
        _install(context, state.model_copy(deep=True), rules)
        return context

    async def _turn(
        self,
        turn: Turn,
        runner: ToolRunner,
        state: DialogueState,
        rules: list[FeedRule],
        judgement: Judgement,
        snapshot: MemorySnapshot,
    ) -> AgentResponse:
        confirmed = confirmed_call(turn, runner, state)
        if confirmed is not None:
            act, brain = confirmed, self.brain
        else:
            act, brain, runner = await self._act(turn, runner)
        context = runner.context
        usage = act.usage
        items: list[RecommendedItem] = []
        reply: str | None = act.reply
        degraded = act.degraded or brain is not self.brain
        rolled_back = False
        if reply is None:
            constraints = act.constraints.merged(context.constraints)
            # The offline brain's plan is the user's text, read by code; any other brain is checked.
            if self.enforce_stated_constraints and not isinstance(brain, OfflineBrain):
                constraints = with_users_constraints(constraints, judgement.constraints, runner.trace)
            grounded = ground(context.catalog, context.candidates.ranked, constraints, runner.trace)
            if not grounded and not judgement.constraints.is_empty() and contradicted(runner.trace):
                grounded = rank_stated(runner, judgement.constraints, constraints, self.k)
            explained = [self._item(context, item, score, constraints) for item, score in grounded[: self.k]]
            composition = await self._compose(brain, turn, act, explained, runner)
            usage = usage.add(composition.usage)
            if composition.item_ids is not None:
                chosen = resolve_named(
                    context.catalog, composition.item_ids, grounded, constraints, runner.trace
                )
                by_id = {str(i.item_id): i for i in explained}
                explained = [by_id.get(str(i)) or self._item(context, i, s, constraints) for i, s in chosen]
            for item in explained:
                note = composition.notes.get(str(item.item_id))
                if note:
                    item.reasons.insert(0, _note(note))
            items = _obeying(rules, explained, context, runner)
            reply = composition.reply
            if rules and not items:
                reply = f"{reply} {_RULES_NOTE}"
            degraded = degraded or composition.degraded
            rolled_back = composition.degraded and brain is not self.fallback
        else:
            constraints = act.constraints
        held = [
            s
            for s in runner.trace
            if s.kind == "policy" and s.args.get("decision", {}).get("action") == "confirm"
        ]
        refusals = [s for s in runner.trace if s.kind == "policy" and s not in held]
        if held and context.dialogue is not None:
            step = held[-1]
            args = {k: v for k, v in step.args.items() if k != "decision"}
            context.dialogue.pending_call = {"tool": step.name, "args": args}
            reply = f"{reply} {refusal_sentence(held, 0)}".strip()
        # A refused call never ran, and under the default policy every write that did run is one the
        # user's words name: those stay. A turn is undone whole when its reply fell back (an LLM that
        # failed midway), or when a call was refused and a write the user's words do not name ran all
        # the same (a custom policy that allows writes by kind): the refusal shows the brain was
        # steered. The audit lists the writes before any rollback, so it shows what was written and undone.
        rolled_back = rolled_back or bool(refusals and self._unnamed_writes(runner))
        written = snapshot.changes(self.runtime.memory, provenance=context.request.provenance)
        undone = 0
        if rolled_back:
            undone = snapshot.restore(self.runtime.memory)
            runner.trace.append(
                TraceStep(kind="memory", name="rolled_back", detail=f"{undone} record(s) restored")
            )
        if refusals or undone:
            reply = f"{reply} {refusal_sentence(refusals, undone)}".strip()
        if degraded:
            reply = f"{reply} {LLM_UNAVAILABLE_NOTE}"
        audit_turn(self.runtime.memory, written, turn, undone=undone)
        self._remember(turn.session_id, turn.user_id, turn.message, reply)
        self._save_state(context, act, items)
        return AgentResponse(
            user_id=turn.user_id,
            session_id=turn.session_id,
            reply=reply,
            items=items,
            trace=runner.trace,
            usage=usage,
            brain=brain.name,
            degraded=degraded,
            constraints=constraints,
        )

    async def _act(self, turn: Turn, runner: ToolRunner) -> tuple[Act, Brain, ToolRunner]:
        """The brain's act, or the fallback's on a fresh context when the brain fails (with its runner)."""
        try:
            return await self.brain.act(turn, runner), self.brain, runner
        except Exception as exc:  # any brain failure must degrade to the offline brain, never crash the turn
            if self.brain is self.fallback:
                raise
            logger.warning("brain %s failed (%s); the offline brain completes the turn", self.brain.name, exc)
            runner.trace.append(_fallback_step(self.fallback.name, exc))
            # A half-run plan must not leak writes, candidates, constraints or half-recorded critiques
            # into the offline answer: the offline brain starts over (the turn's writes undone, a fresh
            # context in which the held call that confirmed_call dropped stays dropped).
            runner.start_over()
            runner.context.request = dataclasses.replace(runner.context.request, via="offline_parser")
            act = await self.fallback.act(turn, runner)
            degraded = act.model_copy(update={"degraded": True, "usage": _spent(exc).add(act.usage)})
            return degraded, self.fallback, runner

    async def _compose(
        self, brain: Brain, turn: Turn, act: Act, items: list[RecommendedItem], runner: ToolRunner
    ) -> Composition:
        try:
            return await brain.compose(turn, act, items, runner)
        except Exception as exc:  # a failed reply falls back to the offline template, never a traceback
            if brain is self.fallback:
                raise
            logger.warning("brain %s could not compose (%s); using the offline reply", brain.name, exc)
            runner.trace.append(_fallback_step(self.fallback.name, exc))
            composition = await self.fallback.compose(turn, act, items, runner)
            spent = _spent(exc)
            if spent.failures == 0:
                spent = spent.add(Usage(failures=1))
            return composition.model_copy(update={"usage": composition.usage.add(spent), "degraded": True})

    def _unnamed_writes(self, runner: ToolRunner) -> list[TraceStep]:
        """Write calls of the turn that ran although they are not writes the user's words name."""
        request = runner.context.request
        return [
            step
            for step in runner.trace
            if step.kind == "tool_call"
            and step.ok
            and (spec := self.dispatcher.spec(step.name)) is not None
            and spec.privilege == "write"
            and not request.allows(step.name, step.args)
        ]

    def _item(self, context: ToolContext, item: Any, score: float, constraints: Any) -> RecommendedItem:
        catalog = context.catalog
        row = catalog.row(item)
        attributes = {
            k: v for k, v in row.items() if k not in ("item_id", "title", "text") and v not in (None, [], "")
        }
        return RecommendedItem(
            item_id=item,
            title=catalog.title(item),
            score=round(float(score), 6),
            reasons=explain(context, item, constraints),
            attributes=attributes,
        )

    def _save_state(self, context: ToolContext, act: Act, items: list[RecommendedItem]) -> None:
        """Record the turn in the session's dialogue state (shown list, last action) and store it."""
        state = context.dialogue
        if state is None or act.keep_state:
            return
        state.turn += 1
        if items:
            state.record_shown([str(i.item_id) for i in items])
        elif act.intent == "ask":
            state.last_action = "ask"
        else:
            state.last_action = "answer"
        state.updated_at = time.time()
        self.runtime.memory.save_dialogue_state(state)

    def _remember(self, session: str, user_id: str, message: str, reply: str) -> None:
        memory = self.runtime.memory
        memory.append_turn(session, user_id, DialogueTurn(role="user", content=message))
        memory.append_turn(session, user_id, DialogueTurn(role="assistant", content=reply))
        turns = memory.turns(session)
        condensed = condense_dialogue(turns)
        if condensed is not turns:
            memory.replace_turns(session, user_id, condensed)


def _install(context: ToolContext, state: DialogueState, rules: list[FeedRule]) -> None:
    """Give the turn's tools the session state, and make the ranking obey feed rules and critiques."""
    context.dialogue = state
    context.score_adjusters = (
        [feed_adjuster(rules), critique_adjuster(state)] if rules else [critique_adjuster(state)]
    )


def _obeying(
    rules: list[FeedRule], items: list[RecommendedItem], context: ToolContext, runner: ToolRunner
) -> list[RecommendedItem]:
    """The final items without any a feed rule forbids (items a brain named bypass the ranking tool)."""
    if not rules:
        return items
    allowed = {
        str(i)
        for i, _ in apply_feed_rules(rules, [(i.item_id, i.score) for i in items], context.catalog.dataset)
    }
    kept = [i for i in items if str(i.item_id) in allowed]
    if len(kept) != len(items):
        dropped = [i.title for i in items if str(i.item_id) not in allowed]
        runner.trace.append(TraceStep(kind="grounding", name="feed_rules", detail=f"dropped {dropped}"))
    return kept


def _note(text: str) -> Reason:
    return Reason(kind="model", text=text, evidence={"source": "brain"})


def _offline_like(brain: Brain | None) -> OfflineBrain:
    """A new offline brain (the fallback, the parser of the user's words) that reads dialogue acts with
    ``brain``'s act classifier when ``brain`` is an offline brain, so an agent built with the rules
    never loads the MiniLM classifier on its parsing path; the default classifier otherwise."""
    if not isinstance(brain, OfflineBrain):
        return OfflineBrain()
    classifier = brain.classifier()
    return OfflineBrain(act_classifier="rules" if classifier is None else classifier)


def _fallback_step(name: str, exc: BaseException) -> TraceStep:
    return TraceStep(kind="fallback", name=name, ok=False, detail=_describe(exc))


def _spent(exc: BaseException) -> Usage:
    """LLM usage a failed brain step reports on its exception (zero when it reports none)."""
    usage = getattr(exc, "usage", None)
    return usage if isinstance(usage, Usage) else Usage()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class _ThreadRunner:
    """Runs a coroutine to completion on a fresh event loop in a worker thread."""

    def __enter__(self) -> _ThreadRunner:
        import concurrent.futures

        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def run(self, coroutine: Any) -> Any:
        return self._pool.submit(asyncio.run, coroutine).result()
