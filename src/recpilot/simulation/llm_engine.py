"""The LLM-driven user simulator: one model call per page, a typed answer checked against the page.

:class:`LLMDecisionEngine` prompts a model through the one LLM stack
(:class:`~recpilot.llm.client.LLMClient`) with the persona, a bounded memory retrieved for the page
(see :func:`~recpilot.simulation.llm_prompts.retrieve_memory`), the user's state and the page, and asks
for a :class:`~recpilot.simulation.llm_answers.PageAnswer`.
An answer naming an item that is not on the page, or a rating off the scale, is sent back to the model
with the problem (bounded by ``output_retries``); HTTP failures are retried by the transport (429, 5xx,
timeouts), then the whole call by ``page_attempts``. When nothing usable comes back the page gets a
recorded fallback decision (``skip`` everything, or ``leave``), counted in :attr:`LLMDecisionEngine.stats`:
a simulation run never crashes on the model. The one exception is a replay-mode cache miss
(:class:`~recpilot.llm.cache.CacheMissError`): a replay that silently differs from its
recording would defeat its purpose, so it propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal, TypeVar

import httpx2
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.models import Model

from recpilot.llm.cache import CacheMissError, LLMCache, LLMCacheConfig
from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.errors import LLMError
from recpilot.llm.progress import LLMProgress, RunCounts
from recpilot.llm.ratelimit import RateLimitConfig, RateLimiter
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks
from recpilot.simulation.engine import DecisionEngine, templated_interview
from recpilot.simulation.llm_answers import (
    InstructionAnswer,
    InterviewAnswer,
    PageAnswer,
    fallback_decision,
    instruction_problems,
    interview_problems,
    page_problems,
    to_decision,
)
from recpilot.simulation.llm_prompts import (
    INSTRUCTION_INSTRUCTIONS,
    INTERVIEW_INSTRUCTIONS,
    PAGE_INSTRUCTIONS,
    instruction_prompt,
    interview_prompt,
    page_prompt,
    retrieve_memory,
)
from recpilot.simulation.types import (
    Interview,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    ShownItem,
    UserState,
)

OutputT = TypeVar("OutputT", bound=BaseModel)

#: Failures that mean "the model gave no usable answer" (anything else is a bug and propagates).
_MODEL_FAILURES = (LLMError, httpx2.HTTPError)


class LLMEngineConfig(BaseModel):
    """How the LLM engine prompts, validates and falls back.

    Attributes:
        memory_similar: Past items most similar to the page recalled into the prompt.
        memory_recent: Most recent past items recalled into the prompt.
        memory_max_chars: The most characters the recalled memory may take.
        rating_min: The lowest rating on the scale.
        rating_max: The highest rating on the scale.
        output_retries: How often the model may correct an answer that fails validation.
        page_attempts: Whole calls per page before the fallback decision (HTTP retries come on top).
        on_failure: The recorded decision when no usable answer came: ``skip`` every item and stay, or
            ``leave`` the session.
        interview: Ask the model for the post-session interview (else it is templated).
        rate: Concurrency and rate limits of the HTTP requests (endpoint models only).
        cache: Record/replay cache of the HTTP requests (endpoint models only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_similar: int = Field(default=8, ge=0)
    memory_recent: int = Field(default=5, ge=0)
    memory_max_chars: int = Field(default=1500, ge=0)
    rating_min: float = 0.5
    rating_max: float = 5.0
    output_retries: int = Field(default=1, ge=0, le=5)
    page_attempts: int = Field(default=2, ge=1, le=5)
    on_failure: Literal["skip", "leave"] = "skip"
    interview: bool = True
    rate: RateLimitConfig = Field(default_factory=RateLimitConfig)
    cache: LLMCacheConfig | None = None


@dataclass
class LLMEngineStats:
    """The engine's books over a run.

    Attributes:
        pages: Pages decided (fallbacks included).
        calls: Model requests sent (HTTP retries and step-downs included).
        requests: Model requests answered (validation retries included).
        rejected: Answers sent back to the model for failing validation.
        step_downs: Requests whose output mode the server rejected (re-sent in a weaker mode).
        failures: Pages that got the fallback decision.
        sessions: Sessions ended (each asks for its interview).
        session_pages: Pages of the sessions ended.
        interview_failures: Interviews that fell back to the template.
        input_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
        last_error: The last failure, in words.
    """

    pages: int = 0
    calls: int = 0
    requests: int = 0
    rejected: int = 0
    step_downs: int = 0
    failures: int = 0
    sessions: int = 0
    session_pages: int = 0
    interview_failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_error: str = ""


_PAGE = Question(PAGE_INSTRUCTIONS, PageAnswer, "Your decision for this page.", max_tokens=300)
_INTERVIEW = Question(INTERVIEW_INSTRUCTIONS, InterviewAnswer, "Your interview answer.", max_tokens=200)
_INSTRUCTION = Question(INSTRUCTION_INSTRUCTIONS, InstructionAnswer, "Your instruction.", max_tokens=60)


class LLMDecisionEngine(DecisionEngine):
    """A simulator engine that asks a language model what the persona does with each page.

    Args:
        model: :class:`~recpilot.llm.settings.LLMSettings` for an OpenAI-compatible endpoint (one HTTP
            client per event loop, with the rate limits, retries and cache of ``config``), or any
            pydantic-ai ``Model`` (e.g. :func:`recpilot.testing.llm_models.scripted_model`).
        config: Prompting, validation and fallback settings.
        catalog: Titles and attributes of items by id, for retrieving similar past items
            (:func:`~recpilot.simulation.llm_prompts.catalog_items` builds it from a dataset).

    Attributes:
        stats: Requests, rejections, failures and tokens so far.
        cache: The record/replay store, when configured.
    """

    name = "llm"

    def __init__(
        self,
        model: LLMSettings | Model,
        config: LLMEngineConfig | None = None,
        *,
        catalog: dict[str, ShownItem] | None = None,
    ) -> None:
        self.model = model
        self.config = config or LLMEngineConfig()
        self.catalog = catalog or {}
        self.stats = LLMEngineStats()
        self.cache = LLMCache(self.config.cache) if self.config.cache is not None else None
        self.llm = LLMClient(model, rate=self.config.rate, cache=self.cache)

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter of the current connection (None before the first request)."""
        return self.llm.limiter

    async def adecide(self, persona: Persona, state: UserState, page: Page) -> PageDecision:
        """The persona's actions on ``page``: one model call (plus bounded retries), never an exception."""
        memory = retrieve_memory(
            persona,
            state,
            page,
            self.catalog,
            similar=self.config.memory_similar,
            recent=self.config.memory_recent,
            max_chars=self.config.memory_max_chars,
        )
        rating_range = (self.config.rating_min, self.config.rating_max)
        prompt = page_prompt(persona, state, page, memory, rating_range)
        failure = ""
        for _ in range(self.config.page_attempts):
            try:
                answer = await self._ask(_PAGE, prompt, lambda a: page_problems(a, page, rating_range))
            except _MODEL_FAILURES as exc:
                _reraise_cache_miss(exc)
                failure = _describe(exc)
                continue
            self.stats.pages += 1  # counted when decided, so progress shows pages done
            return to_decision(answer, page)
        self.stats.pages += 1
        self.stats.failures += 1
        self.stats.last_error = failure
        return fallback_decision(page, state, self.config.on_failure, failure)

    async def ainterview(self, persona: Persona, state: UserState, record: SessionRecord) -> Interview:
        """The post-session interview from the model; the templated one when the model fails."""
        self.stats.sessions += 1
        self.stats.session_pages += len(record.pages)
        if not self.config.interview:
            return await super().ainterview(persona, state, record)
        shown = frozenset(item.item_id for page in record.pages for item in page.items)
        prompt = interview_prompt(persona, record, state.satisfaction)
        try:
            answer = await self._ask(_INTERVIEW, prompt, lambda a: interview_problems(a, shown))
        except _MODEL_FAILURES as exc:
            _reraise_cache_miss(exc)
            self.stats.interview_failures += 1
            self.stats.last_error = _describe(exc)
            return templated_interview(persona, record, state.satisfaction)
        return Interview(
            user_id=record.user_id,
            session=record.session,
            stayed=record.exit_page is None,
            reason=answer.reason,
            satisfaction=answer.satisfaction,
            liked=list(dict.fromkeys(answer.liked)),
            disliked=list(dict.fromkeys(answer.disliked)),
        )

    async def ainstruction(
        self,
        persona: Persona,
        state: UserState,
        pages: Sequence[Page],
        decisions: Sequence[PageDecision],
        suggestion: str,
    ) -> str:
        """The persona's model words the instruction (the rule-based ``suggestion`` if it fails)."""
        prompt = instruction_prompt(persona, pages, decisions, suggestion)
        try:
            answer = await self._ask(_INSTRUCTION, prompt, instruction_problems)
        except _MODEL_FAILURES as exc:
            _reraise_cache_miss(exc)
            self.stats.last_error = _describe(exc)
            return suggestion
        return " ".join(answer.instruction.split())

    def run_counts(self, sessions: int, pages: int) -> RunCounts:
        """What :class:`~recpilot.llm.progress.LLMProgress` shows of a run of ``sessions`` sessions.

        The work is pages decided. The pages expected: those of the sessions ended, and for each
        session left their average length (``pages``, every page seen, before any session ended).
        """
        stats = self.stats
        per_session = stats.session_pages / stats.sessions if stats.sessions else float(pages)
        expected = stats.session_pages + max(0, sessions - stats.sessions) * per_session
        return RunCounts(stats.calls, stats.output_tokens, stats.pages, max(float(stats.pages), expected))

    async def aclose(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        await self.llm.aclose()

    async def __aenter__(self) -> LLMDecisionEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _ask(
        self, question: Question[OutputT], prompt: str, check: Callable[[OutputT], list[str]]
    ) -> OutputT:
        """One question; an answer failing validation or ``check`` is sent back (bounded)."""
        books = CallBooks()
        try:
            return await self.llm.ask(
                question, prompt, books, repairs=self.config.output_retries, check=check
            )
        finally:
            self.stats.calls += books.calls
            self.stats.requests += books.requests
            self.stats.rejected += books.rejected
            self.stats.step_downs += books.step_downs
            self.stats.input_tokens += books.input_tokens
            self.stats.output_tokens += books.output_tokens


def llm_progress(
    engine: DecisionEngine, sessions: int, pages: int, *, every_s: float = 10.0
) -> AbstractContextManager[object]:
    """A progress line on stderr while ``engine`` runs, when it is the LLM engine (else nothing).

    Args:
        engine: The run's engine.
        sessions: Sessions in the run (users x sessions per user).
        pages: Pages per session at most.
        every_s: Seconds between lines.
    """
    if not isinstance(engine, LLMDecisionEngine):
        return nullcontext()
    return LLMProgress(
        lambda: engine.run_counts(sessions, pages), every_s=every_s, limiter=lambda: engine.limiter
    )


def _reraise_cache_miss(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CacheMissError):
            raise seen
        seen = seen.__cause__ or seen.__context__


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = [
    "LLMDecisionEngine",
    "LLMEngineConfig",
    "LLMEngineStats",
    "llm_progress",
]
