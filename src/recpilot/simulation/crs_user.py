"""Simulated users for free-form conversational evaluation (in the spirit of iEvaLM and UserSimCRS).

A simulated user holds a hidden target item and a persona drawn from a real user's history (the
population simulator's :class:`~recpilot.simulation.types.Persona`). Each turn it sees the agent's reply
and the items shown (:class:`~recpilot.simulation.types.ShownItem`, as on a simulated page) and answers
with a typed :class:`SimulatorReply`. Two
engines share one contract (:class:`UserSimulator`): :class:`LLMUserSimulator` asks a model through
the one LLM stack (:class:`~recpilot.llm.client.LLMClient`), :class:`RuleBasedUserSimulator`
describes the target from its attributes with templates (no LLM, fully offline).

The base class enforces in code what a prompt can only ask for: every utterance is checked against
the target's title (normalised and fuzzy, see :class:`TitleGuard`); a leaking draft is asked for again
up to ``max_leak_retries`` times, then redacted and counted. Success is never the simulator's call:
the evaluation loop (:mod:`recpilot.crs.freeform`) checks whether the target was shown.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.models import Model

from recpilot.conversation.leakguard import TitleGuard
from recpilot.errors import ConfigError, RecpilotError
from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.errors import LLMError
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks
from recpilot.simulation.types import Persona, ShownItem

_FAILURES = (LLMError, httpx2.HTTPError)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetItem(_Model):
    """The item the simulated user is after (hidden from the agent).

    Attributes:
        item_id: The catalog id, as text.
        title: The display title (never to be said).
        year: The release year, when known.
        genres: Its genres.
        tags: Descriptive tags (topics, moods); may be empty.
    """

    item_id: str
    title: str
    year: int | None = None
    genres: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class SimulationGoal(_Model):
    """One conversation's setup: a target, the persona of the user after it, and what the user may say.

    Attributes:
        target: The hidden target item.
        persona: The simulated user, grounded on a real user's history (the target excluded): the
            same :class:`~recpilot.simulation.types.Persona` the population simulator uses; the LLM
            simulator is told its ``description``, the agent sees its ``user_id``.
        liked_titles: Titles the user rated highly, best first (the target never among them).
        similar_liked: Liked titles sharing genres with the target, most similar first.
        protected_terms: Distinctive title words (normalised) checked in every utterance, besides
            the whole title.
    """

    target: TargetItem
    persona: Persona
    liked_titles: list[str] = Field(default_factory=list)
    similar_liked: list[str] = Field(default_factory=list)
    protected_terms: list[str] = Field(default_factory=list)


class DialogueLine(_Model):
    """One utterance of the conversation so far."""

    role: Literal["user", "agent"]
    text: str


class SimulatorContext(_Model):
    """What the simulated user sees before answering.

    Attributes:
        turn: The user turn about to be produced (1 for the opening message).
        agent_reply: The agent's latest reply (None before the first turn).
        shown: The items the agent showed with that reply.
        transcript: The conversation so far, oldest first.
    """

    turn: int
    agent_reply: str | None = None
    shown: list[ShownItem] = Field(default_factory=list)
    transcript: list[DialogueLine] = Field(default_factory=list)


class SimulatorOutput(_Model):
    """The simulated user's answer, as the LLM writes it.

    Attributes:
        utterance: What the user says next (1 to 3 sentences).
        accept_item_id: The id of a shown item the user accepts, if any.
        leave: Whether the user ends the conversation.
    """

    utterance: str
    accept_item_id: str | None = None
    leave: bool = False


class SimulatorReply(_Model):
    """A checked answer of the simulated user.

    Attributes:
        utterance: What is sent to the agent (redacted when the title leaked on every attempt).
        accept_item_id: The item the simulator claims to accept (recorded; success is decided in code).
        leave: Whether the user ends the conversation.
        leak_retries: Drafts rejected because they revealed the title.
        redacted: Whether the utterance had to be redacted.
        llm_calls: HTTP attempts spent on this answer (0 for the rule-based engine).
    """

    utterance: str
    accept_item_id: str | None = None
    leave: bool = False
    leak_retries: int = 0
    redacted: bool = False
    llm_calls: int = 0


class SimulatorError(RecpilotError):
    """The simulator could not produce an answer (the LLM failed after its retries).

    Args:
        engine: The simulator engine.
        reason: The last failure, in words.
        llm_calls: HTTP attempts spent before giving up.
    """

    def __init__(self, engine: str, reason: str, llm_calls: int = 0) -> None:
        self.engine = engine
        self.reason = reason
        self.llm_calls = llm_calls
        super().__init__(f"the {engine} user simulator gave no usable answer: {reason}")


class UserSimulator(ABC):
    """A simulated user. Subclasses fill :meth:`_draft`; :meth:`reply` checks every draft for leaks.

    Args:
        max_leak_retries: How often a draft revealing the title is asked for again before redaction.
    """

    name: ClassVar[str] = "simulator"

    def __init__(self, *, max_leak_retries: int = 2) -> None:
        if max_leak_retries < 0:
            raise ConfigError(f"max_leak_retries must be 0 or more, got {max_leak_retries}")
        self.max_leak_retries = max_leak_retries

    async def reply(self, goal: SimulationGoal, context: SimulatorContext) -> SimulatorReply:
        """The next utterance, guaranteed not to reveal the target's title.

        Raises:
            SimulatorError: The engine failed to produce any answer.
        """
        guard = goal_guard(goal)
        feedback: list[str] = []
        calls = 0
        for attempt in range(self.max_leak_retries + 1):
            try:
                draft, spent = await self._draft(goal, context, feedback)
            except SimulatorError as exc:
                raise SimulatorError(exc.engine, exc.reason, exc.llm_calls + calls) from exc
            calls += spent
            leaked = guard.leaks(draft.utterance)
            if not leaked:
                return _reply(draft, leak_retries=attempt, llm_calls=calls)
            feedback.append(
                f"Your draft {draft.utterance!r} revealed the title ({', '.join(leaked)}). "
                "Describe the movie without its title or any word of it."
            )
        text = guard.redact(draft.utterance) or "Something different, please."
        return _reply(
            draft, utterance=text, leak_retries=self.max_leak_retries + 1, redacted=True, llm_calls=calls
        )

    @abstractmethod
    async def _draft(
        self, goal: SimulationGoal, context: SimulatorContext, feedback: Sequence[str]
    ) -> tuple[SimulatorOutput, int]:
        """A draft answer and the LLM attempts it cost; ``feedback`` lists earlier drafts' leaks."""


def _reply(draft: SimulatorOutput, **updates: object) -> SimulatorReply:
    fields: dict[str, object] = {
        "utterance": draft.utterance,
        "accept_item_id": draft.accept_item_id,
        "leave": draft.leave,
    }
    return SimulatorReply.model_validate({**fields, **updates})


def goal_guard(goal: SimulationGoal) -> TitleGuard:
    """The leak guard for a goal: its target's title forms plus its protected terms."""
    return TitleGuard.for_title(goal.target.title, goal.protected_terms)


def target_shown(goal: SimulationGoal, shown: Sequence[ShownItem]) -> bool:
    """Whether the target is among ``shown`` (the only test of success)."""
    return any(item.item_id == goal.target.item_id for item in shown)


class RuleBasedUserSimulator(UserSimulator):
    """A simulated user without an LLM: describes the target from its attributes with templates.

    Each turn reveals one more clue, cumulatively (genres, decade, a similar film the persona liked,
    tags, all genres); clues that would reveal the title are skipped. It accepts only the target.
    """

    name: ClassVar[str] = "rules"

    async def _draft(
        self, goal: SimulationGoal, context: SimulatorContext, feedback: Sequence[str]
    ) -> tuple[SimulatorOutput, int]:
        target = goal.target
        if target_shown(goal, context.shown):
            return SimulatorOutput(
                utterance="That one looks right, thanks!", accept_item_id=target.item_id
            ), 0
        clues = describe_target(goal)
        told = clues[: max(1, context.turn)]
        request = "I'm looking for " + ", ".join(told) + "."
        prefix = "None of those is quite it. " if context.shown else ""
        return SimulatorOutput(utterance=prefix + request), 0


def describe_target(goal: SimulationGoal) -> list[str]:
    """The rule-based user's clues about the target, in the order they are revealed."""
    guard = goal_guard(goal)
    target = goal.target
    genres = [g for g in target.genres if not g.startswith("(")]
    clues = [f"a {' '.join(g.lower() for g in genres[:2])} film" if genres else "a film"]
    if target.year is not None:
        clues.append(f"from the {target.year // 10 * 10}s")
    similar = [t for t in goal.similar_liked if not guard.leaks(t)]
    if similar:
        clues.append(f"something like {similar[0]}")
    tags = [t for t in target.tags if not guard.leaks(t)][:2]
    if tags:
        clues.append(f"about {' and '.join(tags)}")
    if len(genres) > 2:
        clues.append(f"also {' and '.join(g.lower() for g in genres[2:])}")
    return clues


INSTRUCTIONS = """\
You play a person chatting with a movie recommender. You have one movie in mind (the secret target)
and want the recommender to show it to you. Talk like a real person: short messages (1 to 3
sentences), describing what you want (genres, era, mood, themes, similar movies you liked) and
reacting to what was shown. Never say the target's title or any word of it, not even misspelt.
Answer by calling final_result with: utterance (your message), accept_item_id (the id of a shown
movie only if it is your target, else null) and leave (true only if you give up)."""


def simulator_prompt(goal: SimulationGoal, context: SimulatorContext, feedback: Sequence[str]) -> str:
    """The LLM simulator's prompt for one turn: persona, secret target, transcript, shown items."""
    target = goal.target
    secret = [f"title: {target.title}"]
    if target.year is not None:
        secret.append(f"year: {target.year}")
    if target.genres:
        secret.append(f"genres: {', '.join(target.genres)}")
    if target.tags:
        secret.append(f"tags: {', '.join(target.tags[:8])}")
    lines = [
        f"Your taste: {goal.persona.description or 'not known'}",
        f"Movies you liked: {'; '.join(goal.liked_titles[:5]) or 'none named'}",
        f"Liked movies similar to the target: {'; '.join(goal.similar_liked[:3]) or 'none'}",
        "The secret target (NEVER reveal the title): " + "; ".join(secret),
        f"Forbidden words: {', '.join(goal.protected_terms) or 'the title words'}",
        "",
        "Conversation so far:",
        *(f"{'you' if line.role == 'user' else 'recommender'}: {line.text}" for line in context.transcript),
    ]
    if not context.transcript:
        lines.append("(none: open the conversation by asking for a recommendation)")
    if context.shown:
        lines += ["", "The recommender just showed:", *(f"- [{i.item_id}] {i.title}" for i in context.shown)]
    if feedback:
        lines += ["", "Rejected drafts:", *feedback]
    lines += ["", f"Write your message number {context.turn}."]
    return "\n".join(lines)


_QUESTION = Question(INSTRUCTIONS, SimulatorOutput, "Your next message.", max_tokens=200)


class LLMUserSimulator(UserSimulator):
    """A simulated user played by a language model behind an OpenAI-compatible endpoint.

    Args:
        model: An :class:`~recpilot.llm.client.LLMClient`, :class:`~recpilot.llm.settings.LLMSettings`
            (an endpoint, through the one LLM stack) or any pydantic-ai ``Model`` (scripted in tests).
        max_leak_retries: How often a leaking draft is asked for again before redaction.
        attempts: Whole calls tried per draft after the HTTP retries and output retries are spent.
        output_retries: How often the model may correct an answer that fails the schema.
        deadline_s: The most seconds one call may take (from the settings when None).
    """

    name: ClassVar[str] = "llm"

    def __init__(
        self,
        model: LLMClient | LLMSettings | Model,
        *,
        max_leak_retries: int = 2,
        attempts: int = 2,
        output_retries: int | None = None,
        deadline_s: float | None = None,
    ) -> None:
        super().__init__(max_leak_retries=max_leak_retries)
        if attempts < 1:
            raise ConfigError(f"attempts must be at least 1, got {attempts}")
        self.llm = LLMClient.of(model)
        self.attempts = attempts
        settings = self.llm.settings
        self.output_retries = output_retries if output_retries is not None else settings.output_retries
        self.deadline_s = deadline_s if deadline_s is not None else self.llm.deadline_s

    async def _draft(
        self, goal: SimulationGoal, context: SimulatorContext, feedback: Sequence[str]
    ) -> tuple[SimulatorOutput, int]:
        prompt = simulator_prompt(goal, context, feedback)
        calls = 0
        reason = "no attempt made"
        for _ in range(self.attempts):
            books = CallBooks()
            try:
                output = await self._run(prompt, books)
            except _FAILURES as exc:
                output = None
                reason = _describe(exc)
            calls += books.calls
            if output is not None and output.utterance.strip():
                return output, calls
            if output is not None:
                reason = "the model answered with an empty utterance"
        raise SimulatorError(self.name, f"{reason} (after {calls} model calls)", calls)

    async def _run(self, prompt: str, books: CallBooks) -> SimulatorOutput:
        async with self.llm.opened(self.deadline_s) as llm:
            return await llm.ask(_QUESTION, prompt, books, repairs=self.output_retries)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
