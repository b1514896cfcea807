"""The LLM brain: plan first, execute through the dispatcher, then write the answer.

A typical turn costs two model calls: :meth:`LLMBrain.act` asks for a typed :class:`Plan` (a tool
chain) and runs it; :meth:`LLMBrain.compose` writes the reply about the grounded items. When a plan
fails, the brain falls back to step-by-step tool calling (bounded); with ``reflect=True`` a critic
checks the draft before it is sent. Every tool call, planned or not, goes through the one dispatcher.
Any failure to get a usable answer (after the HTTP retries and the validation retries) raises
:class:`~recpilot.llm.errors.LLMUnavailableError`, and the agent completes the turn with the offline brain.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx2
import openai
from pydantic_ai import (
    Agent,
    AgentRetries,
    AgentRunError,
    RunUsage,
    Tool,
    UnexpectedModelBehavior,
    UsageLimits,
    capture_run_messages,
)
from pydantic_ai.messages import ModelMessage, ModelRequest
from pydantic_ai.models import Model

from recpilot.agent import prompts
from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.grounding import resolve_named
from recpilot.agent.prompts import ComposedReply, Critique, StepOutcome
from recpilot.agent.types import HardConstraints, Intent, Plan, RecommendedItem, TraceStep, Usage
from recpilot.errors import ConfigError
from recpilot.llm.errors import LLMError, LLMUnavailableError
from recpilot.llm.models import AttemptLog, recording_attempts, using_model
from recpilot.llm.settings import LLMSettings, load_llm_settings
from recpilot.tools.context import CandidateSet, Catalog, ToolContext
from recpilot.tools.dispatcher import ToolSpec

logger = logging.getLogger("recpilot.agent")

OutputT = TypeVar("OutputT")

#: Failures that mean "the model gave no usable answer" (anything else is a bug and propagates).
_MODEL_FAILURES = (AgentRunError, LLMError, httpx2.HTTPError, openai.OpenAIError)


@dataclass
class _Books:
    """LLM usage of one brain step: model requests, tokens and rejected answers."""

    attempts: AttemptLog = field(default_factory=AttemptLog)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rejected: int = 0

    def add(self, run: RunUsage, messages: Sequence[ModelMessage]) -> None:
        self.requests += run.requests
        self.input_tokens += run.input_tokens
        self.output_tokens += run.output_tokens
        self.rejected += sum(
            1 for m in messages if isinstance(m, ModelRequest) and any(map(_is_retry, m.parts))
        )

    def usage(self) -> Usage:
        # Over HTTP every attempt counts as a call (retries cost too); test models have no transport.
        calls = max(self.attempts.attempts, self.requests)
        failures = calls - self.requests + self.rejected + self.attempts.refused
        return Usage(
            llm_calls=calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            failures=failures,
        )


class LLMBrain(Brain):
    """A brain that plans with a language model and writes the reply with it.

    Args:
        model: The model: :class:`~recpilot.llm.settings.LLMSettings` for an OpenAI-compatible endpoint
            (a fresh HTTP client per step, with recpilot's retry policy), or any pydantic-ai ``Model``
            (e.g. ``FunctionModel`` / ``TestModel`` in tests).
        reflect: Run a critic call on the draft reply before answering (one more call per turn).
        output_retries: How often the model may correct an invalid answer; defaults to the settings'.
        max_tool_steps: The most model requests of the step-by-step fallback; defaults to the settings'.
        deadline_s: The most seconds :meth:`act` or :meth:`compose` may take; defaults to the settings'
            (none for a given pydantic-ai ``Model``).
    """

    name = "llm"

    def __init__(
        self,
        model: LLMSettings | Model,
        *,
        reflect: bool = False,
        output_retries: int | None = None,
        max_tool_steps: int | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.model = model
        self.reflect = reflect
        defaults = model if isinstance(model, LLMSettings) else LLMSettings.model_construct()
        self.output_retries = defaults.output_retries if output_retries is None else output_retries
        self.max_tool_steps = defaults.max_tool_steps if max_tool_steps is None else max_tool_steps
        settings_deadline = model.deadline_s if isinstance(model, LLMSettings) else None
        self.deadline_s = deadline_s if deadline_s is not None else settings_deadline
        retries = AgentRetries(output=self.output_retries, tools=self.output_retries)
        self._planner = Agent(None, output_type=Plan, instructions=prompts.PLAN_INSTRUCTIONS, retries=retries)
        self._writer = Agent(
            None, output_type=ComposedReply, instructions=prompts.COMPOSE_INSTRUCTIONS, retries=retries
        )
        self._critic = Agent(
            None, output_type=Critique, instructions=prompts.CRITIC_INSTRUCTIONS, retries=retries
        )

    async def act(self, turn: Turn, tools: ToolRunner) -> Act:
        """Call 1: a typed plan, run through the dispatcher; step-by-step tool calling if it fails."""
        books = _Books()
        with recording_attempts() as books.attempts:
            async with self._open("plan", books) as model:
                context = self._planner_context(turn, tools)
                plan = await self._run("plan", self._planner, context, model, books, 1 + self.output_retries)
                failure = _constraint_problem(plan.constraints, tools.context.catalog)
                failure = failure or _plan_failure(tools.run_plan(plan))
                if failure is None:
                    _finish_ranking(plan.intent, tools)
                    return Act(
                        intent=plan.intent, constraints=plan.constraints, usage=books.usage(), note=plan.note
                    )
                logger.info("plan failed (%s); calling tools step by step", failure)
                books.rejected += 1
                tools.trace.append(TraceStep(kind="fallback", name="step_by_step", ok=False, detail=failure))
                _reset(tools.context)
                stepper = self._stepper(tools)
                prompt = prompts.steps_prompt(context, failure)
                outcome = await self._run("steps", stepper, prompt, model, books, self.max_tool_steps)
        _finish_ranking(outcome.intent, tools)
        constraints = _known_constraints(outcome.constraints, tools.context.catalog, tools.trace)
        note = f"step by step after a failed plan: {outcome.note}".strip()
        return Act(intent=outcome.intent, constraints=constraints, usage=books.usage(), note=note)

    async def compose(
        self, turn: Turn, act: Act, items: list[RecommendedItem], tools: ToolRunner
    ) -> Composition:
        """Call 2: the reply about the grounded items (plus a critic call when ``reflect`` is on)."""
        books = _Books()
        constraints = act.constraints.merged(tools.context.constraints)
        prompt = prompts.compose_prompt(turn.message, act.intent, constraints, items, tools.trace)
        with recording_attempts() as books.attempts:
            async with self._open("compose", books) as model:
                draft = await self._run(
                    "compose", self._writer, prompt, model, books, 1 + self.output_retries
                )
                if self.reflect:
                    draft = await self._reflect(prompt, draft, items, model, books, tools.trace)
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
        model: Model,
        books: _Books,
        trace: list[TraceStep],
    ) -> ComposedReply:
        chosen = draft.item_ids or [i.item_id for i in items]
        try:
            critique = await self._run(
                "reflect", self._critic, prompts.critic_prompt(prompt, draft.reply, chosen), model, books, 2
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

    def _stepper(self, tools: ToolRunner) -> Agent[None, StepOutcome]:
        wrapped = [_as_tool(spec, tools) for spec in tools.dispatcher.specs]
        retries = AgentRetries(output=self.output_retries, tools=self.output_retries)
        return Agent(
            None,
            output_type=StepOutcome,
            instructions=prompts.STEPS_INSTRUCTIONS,
            tools=wrapped,
            retries=retries,
        )

    def _planner_context(self, turn: Turn, tools: ToolRunner) -> str:
        catalog = tools.context.catalog
        return prompts.plan_prompt(
            turn.message,
            _overview(catalog),
            prompts.tool_catalog(tools.dispatcher.specs),
            prompts.profile_summary(turn.profile, catalog),
            prompts.dialogue_text(turn.dialogue),
            _shown(tools.context),
        )

    @asynccontextmanager
    async def _open(self, stage: str, books: _Books) -> AsyncIterator[Model]:
        """The model for one brain step, under the step's deadline."""
        try:
            with anyio.fail_after(self.deadline_s):
                async with using_model(self.model) as model:
                    yield model
        except TimeoutError:
            reason = f"no usable answer within the {self.deadline_s:g}s deadline"
            logger.warning("LLM %s failed: %s", stage, reason)
            raise LLMUnavailableError(stage, reason, books.usage()) from None

    async def _run(
        self,
        stage: str,
        agent: Agent[None, OutputT],
        prompt: str,
        model: Model,
        books: _Books,
        max_requests: int,
    ) -> OutputT:
        """One bounded agent run, with its usage booked whether it succeeds or not."""
        run_usage = RunUsage()
        with capture_run_messages() as messages:
            try:
                result = await agent.run(
                    prompt, model=model, usage=run_usage, usage_limits=UsageLimits(request_limit=max_requests)
                )
            except _MODEL_FAILURES as exc:
                books.add(run_usage, messages)
                if isinstance(exc, UnexpectedModelBehavior):
                    books.rejected += 1  # the last answer was rejected too, with no retry left
                logger.warning("LLM %s failed: %s", stage, _describe(exc))
                raise LLMUnavailableError(stage, _describe(exc), books.usage()) from exc
        books.add(run_usage, messages)
        return result.output


def build_llm_brain(settings: LLMSettings | None = None, *, reflect: bool = False) -> LLMBrain:
    """An :class:`LLMBrain` for the configured endpoint (``RECPILOT_LLM_*`` is read now if no ``settings``).

    Raises:
        ConfigError: OpenAI's own API is configured but no key is available.
    """
    settings = settings if settings is not None else load_llm_settings()
    if settings.is_openai and not settings.resolved_api_key():
        raise ConfigError(
            "the LLM brain needs an API key for OpenAI: set RECPILOT_LLM_API_KEY (or OPENAI_API_KEY), "
            "or point it at a local OpenAI-compatible server with --llm URL#MODEL / RECPILOT_LLM_BASE_URL"
        )
    return LLMBrain(settings, reflect=reflect)


_overviews: weakref.WeakKeyDictionary[Catalog, str] = weakref.WeakKeyDictionary()


def _shown(context: ToolContext) -> str:
    """The list shown last in this session, numbered ("1. Heat (1995) (id 6)"), or empty."""
    state = context.dialogue
    catalog = context.catalog
    items = [i for i in (state.last_shown if state is not None else []) if catalog.has_item(i)]
    return "\n".join(f"{n}. {catalog.title(i)} (id {i})" for n, i in enumerate(items, start=1))


def _overview(catalog: Catalog) -> str:
    # The vocabulary costs a few SQL queries; a catalog's does not change while it is in use.
    overview = _overviews.get(catalog)
    if overview is None:
        overview = _overviews[catalog] = prompts.catalog_overview(catalog)
    return overview


def _as_tool(spec: ToolSpec, tools: ToolRunner) -> Tool[None]:
    """A pydantic-ai tool that forwards to the dispatcher (which validates, times and records the call)."""

    # Async and sequential: pydantic-ai runs sync tools in worker threads, but tools share the turn's
    # candidate set (order matters) and the store's connection (an in-memory SQLite is per thread).
    async def forward(**args: Any) -> str:
        record = tools.call(spec.name, args)
        if record.ok and record.output is not None:
            return record.output.summary
        return f"error: {record.error}"

    schema = prompts.lean_schema(spec.json_schema())
    return Tool.from_schema(forward, spec.name, spec.description, schema, sequential=True)


def _constraint_problem(constraints: HardConstraints, catalog: Catalog) -> str | None:
    """Why the constraints cannot be checked against this catalog (an unknown attribute), if they cannot."""
    known = catalog.store.attributes()
    for name in [*constraints.attributes, *constraints.exclude_attributes, *constraints.numeric]:
        if name not in known:
            return f"unknown attribute {name!r} in the constraints; attributes are {', '.join(known)}"
    return None


def _known_constraints(
    constraints: HardConstraints, catalog: Catalog, trace: list[TraceStep]
) -> HardConstraints:
    """The constraints without unknown attributes (which would reject every item); drops are traced."""
    problem = _constraint_problem(constraints, catalog)
    if problem is None:
        return constraints
    known = catalog.store.attributes()
    trace.append(TraceStep(kind="grounding", name="constraint_dropped", ok=False, detail=problem))
    return constraints.model_copy(
        update={
            "attributes": {k: v for k, v in constraints.attributes.items() if k in known},
            "exclude_attributes": {k: v for k, v in constraints.exclude_attributes.items() if k in known},
            "numeric": {k: v for k, v in constraints.numeric.items() if k in known},
        }
    )


def _plan_failure(records: Sequence[Any]) -> str | None:
    for record in records:
        if not record.ok:
            return f"step {record.name} failed: {record.error}"
    return None


def _finish_ranking(intent: Intent, tools: ToolRunner) -> None:
    """A recommendation needs a ranking; add the missing last step instead of asking the model again."""
    if intent in ("recommend", "critique") and not tools.context.candidates.ranked:
        tools.call("rank_candidates", {})


def _reset(context: ToolContext) -> None:
    context.candidates = CandidateSet()
    context.constraints = HardConstraints()
    context.referenced.clear()


def _is_retry(part: Any) -> bool:
    return getattr(part, "outcome", None) == "retried" or getattr(part, "part_kind", "") in (
        "retry-prompt",
        "retry-feedback",
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["LLMBrain", "build_llm_brain"]
