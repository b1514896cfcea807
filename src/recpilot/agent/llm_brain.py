"""The LLM brain: plan first, execute through the dispatcher, then write the answer.

A typical turn costs two model calls: :meth:`LLMBrain.act` asks for a typed :class:`Plan` (a tool
chain) and runs it; :meth:`LLMBrain.compose` writes the reply about the grounded items. A plan naming
an unknown tool, invalid arguments or an unknown attribute is sent back to the model with the problem
before anything runs (a bounded repair); a plan whose step fails when run is reset and asked for once
more with the failure. With ``reflect=True`` a critic checks the draft before it is sent. Every call
goes through the one LLM stack (:class:`~recpilot.llm.client.LLMClient`: output mode, retries, rate
limit, cache) and every tool call through the one dispatcher. Any failure to get a usable answer raises
:class:`~recpilot.llm.errors.LLMUnavailableError`, and the agent completes the turn with the offline brain.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel
from pydantic_ai.models import Model

from recpilot.agent import prompts
from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.grounding import resolve_named
from recpilot.agent.plan_schema import plan_prompt_schema, plan_schema, tool_catalog
from recpilot.agent.prompts import ComposedReply, Critique
from recpilot.agent.types import HardConstraints, Intent, Plan, RecommendedItem, TraceStep
from recpilot.errors import ConfigError
from recpilot.llm.chat import Question, lean_schema, tokens_for
from recpilot.llm.client import LLMClient
from recpilot.llm.errors import LLMDeadlineError, LLMError, LLMUnavailableError
from recpilot.llm.settings import LLMSettings, load_llm_settings
from recpilot.llm.structured import CallBooks
from recpilot.tools.context import Catalog, ToolContext
from recpilot.tools.dispatcher import ToolSpec

logger = logging.getLogger("recpilot.agent")

OutputT = TypeVar("OutputT", bound=BaseModel)

#: Failures that mean "the model gave no usable answer" (anything else is a bug and propagates).
_MODEL_FAILURES = (LLMError, httpx2.HTTPError)

#: Bounds of the reply on the wire: the text, the items shown, and notes on some of them.
REPLY_CHARS = 480  # five short sentences
REPLY_ITEMS = 10
ITEM_ID_CHARS = 12  # MovieLens ids have up to 6 digits, Amazon's ASINs 10 characters
NOTES = 5
NOTE_CHARS = 80  # one short sentence


def reply_wire_schema() -> dict[str, Any]:
    """The reply's JSON schema as sent: :class:`ComposedReply`'s, with every text and list bounded.

    Under a grammar (llama.cpp) a small model otherwise writes on until the token budget cuts the
    answer mid-JSON, and a repair round is spent on length alone. The compose budget is derived from
    these bounds (:func:`~recpilot.llm.chat.tokens_for`), so any answer the grammar admits fits it.
    Validation still uses :class:`ComposedReply`.
    """
    schema = lean_schema(ComposedReply)
    properties = schema["properties"]
    properties["reply"]["maxLength"] = REPLY_CHARS
    properties["item_ids"] = _item_ids()
    # A list, not an object keyed by id: llama.cpp's grammar ignores maxProperties and propertyNames.
    note = {"type": "string", "maxLength": NOTE_CHARS}
    entry = {
        "type": "object",
        "properties": {"id": _item_id(), "note": note},
        "required": ["id", "note"],
        "additionalProperties": False,
    }
    properties["notes"] = {"type": "array", "items": entry, "maxItems": NOTES}
    return schema


def critique_wire_schema() -> dict[str, Any]:
    """The critic's JSON schema as sent: :class:`Critique`'s, bounded like the reply's."""
    schema = lean_schema(Critique)
    properties = schema["properties"]
    problems = properties["problems"]
    problems["maxItems"] = 3
    problems["items"]["maxLength"] = NOTE_CHARS
    for branch in properties["reply"]["anyOf"]:
        if branch.get("type") == "string":
            branch["maxLength"] = REPLY_CHARS
    properties["drop_item_ids"] = _item_ids()
    return schema


def _item_id() -> dict[str, Any]:
    """An item id on the wire: a number, or a short string (a fresh schema each time)."""
    return {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": ITEM_ID_CHARS}]}


def _item_ids() -> dict[str, Any]:
    return {"type": "array", "items": _item_id(), "maxItems": REPLY_ITEMS}


def _bounded_question(
    instructions: str, output: type[OutputT], description: str, schema: dict[str, Any]
) -> Question[OutputT]:
    """A question whose wire schema is ``schema`` and whose token budget holds any answer it admits."""
    return Question(instructions, output, description, max_tokens=tokens_for(schema), wire_schema=schema)


_COMPOSE = _bounded_question(prompts.COMPOSE_INSTRUCTIONS, ComposedReply, "The reply.", reply_wire_schema())
_CRITIC = _bounded_question(
    prompts.CRITIC_INSTRUCTIONS, Critique, "The verdict on the draft.", critique_wire_schema()
)
_PLAN_TOKENS = 300


class LLMBrain(Brain):
    """A brain that plans with a language model and writes the reply with it.

    Args:
        model: The model: an :class:`~recpilot.llm.client.LLMClient`, :class:`LLMSettings` for an
            OpenAI-compatible endpoint, or any pydantic-ai ``Model`` (e.g. the scripted test models).
        reflect: Run a critic call on the draft reply before answering (one more call per turn).
        output_retries: How often the model may correct an invalid answer; defaults to the settings'.
        deadline_s: The most seconds :meth:`act` or :meth:`compose` may take; defaults to the client's
            (the settings' for an endpoint, none for an in-process ``Model``).
    """

    name = "llm"
    #: The writer's question (its wire schema and its token budget, derived from the schema's bounds).
    compose_question: Question[ComposedReply] = _COMPOSE

    def __init__(
        self,
        model: LLMClient | LLMSettings | Model,
        *,
        reflect: bool = False,
        output_retries: int | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.llm = LLMClient.of(model)
        self.reflect = reflect
        settings = self.llm.settings
        self.output_retries = settings.output_retries if output_retries is None else output_retries
        self.deadline_s = deadline_s if deadline_s is not None else self.llm.deadline_s
        # Per catalog (its attributes are in the wire schema), per tool list.
        self._plan_questions: weakref.WeakKeyDictionary[Catalog, dict[tuple[str, ...], Question[Plan]]] = (
            weakref.WeakKeyDictionary()
        )

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        """Call 1: a typed plan, checked, then run by the dispatcher (asked once more if a step fails)."""
        books = CallBooks()
        # Least privilege: a write the policy would refuse whatever its arguments (the user's message
        # asks for none of its kind) is left out of the tools and the grammar of this turn's plan.
        question = self.plan_question(tools.dispatcher.offered(tools.context), tools.context.catalog)
        prompt = self._planner_context(turn, tools)

        def check(plan: Plan) -> list[str]:
            return _plan_problems(plan, tools)

        async with self._step("plan", books):
            plan = await self._ask("plan", question, prompt, books, check)
            failure = _plan_failure(tools.run_plan(plan))
            if failure is not None:
                logger.info("plan failed (%s); asking for another", failure)
                books.rejected += 1
                tools.trace.append(TraceStep(kind="fallback", name="replan", ok=False, detail=failure))
                tools.start_over()
                retry = prompts.replan_prompt(prompt, failure)
                plan = await self._ask("plan", question, retry, books, check)
                failure = _plan_failure(tools.run_plan(plan))
                if failure is not None:
                    raise LLMUnavailableError("plan", f"the plan failed twice: {failure}", books.usage())
        _finish_ranking(plan.intent, tools)
        return Act(intent=plan.intent, constraints=plan.constraints, usage=books.usage(), note=plan.note)

    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        """Call 2: the reply about the grounded items (plus a critic call when ``reflect`` is on)."""
        books = CallBooks()
        constraints = act.constraints.merged(tools.context.constraints)
        prompt = prompts.compose_prompt(turn.message, act.intent, constraints, items, tools.trace)
        async with self._step("compose", books):
            draft = await self._ask("compose", self.compose_question, prompt, books)
            if self.reflect:
                draft = await self._reflect(prompt, draft, items, books, tools.trace)
        catalog = tools.context.catalog
        shown = resolve_named(catalog, draft.item_ids, [(i.item_id, i.score) for i in items], constraints, [])
        allowed = [i.title for i in items] + [catalog.title(item) for item, _ in shown]
        reply = prompts.ground_reply(draft.reply, allowed, tools.trace) or prompts.plain_reply(items)
        return Composition(
            reply=reply,
            item_ids=list(draft.item_ids) or None,
            notes={str(key): note for key, note in draft.notes.items() if note.strip()},
            usage=books.usage(),
        )

    async def _reflect(
        self,
        prompt: str,
        draft: ComposedReply,
        items: Sequence[RecommendedItem],
        books: CallBooks,
        trace: list[TraceStep],
    ) -> ComposedReply:
        chosen = draft.item_ids or [i.item_id for i in items]
        try:
            critique = await self._ask(
                "reflect", _CRITIC, prompts.critic_prompt(prompt, draft.reply, chosen), books
            )
        except LLMUnavailableError as exc:  # the critic is optional: keep the draft
            trace.append(TraceStep(kind="error", name="reflect", ok=False, detail=exc.reason))
            return draft
        trace.append(
            TraceStep(kind="answer", name="reflect", ok=critique.ok, detail="; ".join(critique.problems))
        )
        if critique.ok:
            return draft
        dropped = {str(i) for i in critique.drop_item_ids}
        return ComposedReply(
            reply=critique.reply or draft.reply,
            item_ids=[i for i in chosen if str(i) not in dropped],
            notes={k: v for k, v in draft.notes.items() if k not in dropped},
        )

    def plan_question(self, specs: Sequence[ToolSpec], catalog: Catalog) -> Question[Plan]:
        """The planner's question: instructions and the tools (the stable prefix of every plan request).

        Its wire schema names the catalog's attributes and each tool's arguments (see :func:`plan_schema`).
        """
        questions = self._plan_questions.setdefault(catalog, {})
        key = tuple(spec.name for spec in specs)
        question = questions.get(key)
        if question is None:
            names = [spec.name for spec in specs]
            explained = prompts.plan_instructions("", names)  # a tool these explain gets no description
            instructions = prompts.plan_instructions(tool_catalog(specs, explained), names)
            question = Question(
                instructions,
                Plan,
                "The plan.",
                max_tokens=_PLAN_TOKENS,
                wire_schema=plan_schema(specs, _vocabulary(catalog)),
                prompt_schema=plan_prompt_schema(names),
            )
            questions[key] = question
        return question

    def _planner_context(self, turn: Turn, tools: ToolRunner) -> str:
        catalog = tools.context.catalog
        return prompts.plan_prompt(
            turn.message,
            prompts.relevant_vocabulary(_vocabulary(catalog), turn.message),
            prompts.profile_summary(turn.profile, catalog),
            prompts.dialogue_text(turn.dialogue),
            _shown(tools.context),
        )

    @asynccontextmanager
    async def _step(self, stage: str, books: CallBooks) -> AsyncIterator[None]:
        """One brain step under its deadline, with its own HTTP client."""
        try:
            async with self.llm.opened(self.deadline_s):
                yield
        except LLMDeadlineError as exc:
            logger.warning("LLM %s failed: %s", stage, exc)
            raise LLMUnavailableError(stage, str(exc), books.usage()) from None

    async def _ask(
        self,
        stage: str,
        question: Question[OutputT],
        prompt: str,
        books: CallBooks,
        check: Callable[[OutputT], list[str]] | None = None,
    ) -> OutputT:
        """One typed question, its cost booked whether it succeeds or not."""
        try:
            return await self.llm.ask(question, prompt, books, repairs=self.output_retries, check=check)
        except _MODEL_FAILURES as exc:
            reason = _describe(exc)
            logger.warning("LLM %s failed: %s", stage, reason)
            raise LLMUnavailableError(stage, reason, books.usage()) from exc


def build_llm_brain(settings: LLMSettings | None = None, *, reflect: bool = False) -> LLMBrain:
    """An :class:`LLMBrain` for the configured endpoint (``RECPILOT_LLM_*`` is read now if no ``settings``).

    Raises:
        ConfigError: OpenAI's own API is configured but no key is available.
    """
    return LLMBrain(usable_settings(settings), reflect=reflect)


def usable_settings(settings: LLMSettings | None = None) -> LLMSettings:
    """``settings`` (``RECPILOT_LLM_*`` read now if None), checked for what the LLM brain needs.

    Raises:
        ConfigError: OpenAI's own API is configured but no key is available.
    """
    settings = settings if settings is not None else load_llm_settings()
    if settings.is_openai and not settings.resolved_api_key():
        raise ConfigError(
            "the LLM brain needs an API key for OpenAI: set RECPILOT_LLM_API_KEY (or OPENAI_API_KEY), "
            "or point it at a local OpenAI-compatible server with --llm URL#MODEL / RECPILOT_LLM_BASE_URL"
        )
    return settings


_vocabularies: weakref.WeakKeyDictionary[Catalog, prompts.Vocabulary] = weakref.WeakKeyDictionary()


def _shown(context: ToolContext) -> str:
    """The list shown last in this session (see :func:`prompts.shown_list`), or empty."""
    state = context.dialogue
    return prompts.shown_list(context.catalog, state.last_shown if state is not None else [])


def _vocabulary(catalog: Catalog) -> prompts.Vocabulary:
    # The vocabulary costs a few SQL queries; a catalog's does not change while it is in use.
    vocabulary = _vocabularies.get(catalog)
    if vocabulary is None:
        vocabulary = _vocabularies[catalog] = prompts.Vocabulary.of(catalog)
    return vocabulary


def _plan_problems(plan: Plan, tools: ToolRunner) -> list[str]:
    """Why ``plan`` cannot run as it is (unknown tools, invalid arguments, unknown attributes)."""
    problems = [tools.dispatcher.validate(step.tool, step.args) for step in plan.steps]
    problems.append(_constraint_problem(plan.constraints, tools.context.catalog))
    return [problem for problem in problems if problem is not None]


def _constraint_problem(constraints: HardConstraints, catalog: Catalog) -> str | None:
    """Why the constraints cannot be checked against this catalog (an unknown attribute), if they cannot."""
    known = catalog.store.attributes()
    for name in [*constraints.attributes, *constraints.exclude_attributes, *constraints.numeric]:
        if name not in known:
            return f"unknown attribute {name!r} in the constraints; attributes are {', '.join(known)}"
    return None


def _plan_failure(records: Sequence[Any]) -> str | None:
    """Why the plan failed when it ran; a call the policy held for the user's confirmation is no
    failure (the plan stops there and the agent asks the user), so it is not planned again."""
    for record in records:
        if not record.ok and not (record.denied is not None and record.denied.action == "confirm"):
            return f"step {record.name} failed: {record.error}"
    return None


def _finish_ranking(intent: Intent, tools: ToolRunner) -> None:
    """A recommendation needs a ranking; add the missing last step instead of asking the model again."""
    if intent in ("recommend", "critique") and not tools.context.candidates.ranked:
        tools.call("rank_candidates", {})


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["LLMBrain", "build_llm_brain", "critique_wire_schema", "reply_wire_schema", "usable_settings"]
