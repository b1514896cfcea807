"""An LLM-planned ask-or-recommend policy, grounded by the preference-weighted policy.

Each turn the preference-weighted policy proposes a shortlist: the askable attributes with the highest
weighted entropy (with their "yes" probability) and its top-k mass. The language model chooses to ask
(and which of the proposed attributes) or to recommend; it never names items, so it cannot invent any.
Its answer is a typed :class:`LLMChoice`, asked through the one LLM stack
(:class:`~recpilot.llm.client.LLMClient`) and checked (an attribute outside the shortlist is sent back
for correction). Any failure (no model, HTTP error, invalid answers after the retries)
falls back to the preference-weighted decision and is recorded in :attr:`LLMPolicy.fallbacks`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.models import Model

from recpilot.conversation.policy.base import Ask, DecisionContext, Recommend
from recpilot.conversation.policy.preference import PreferenceConfig, PreferenceWeightedPolicy
from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.errors import LLMError
from recpilot.llm.settings import LLMSettings
from recpilot.llm.structured import CallBooks

logger = logging.getLogger("recpilot.conversation")

_FAILURES = (LLMError, httpx2.HTTPError)

INSTRUCTIONS = """\
You steer a conversational recommender. Each turn you either ASK the user about item attributes or
RECOMMEND the current top items. Asking narrows the candidates; recommending ends the conversation if the
user's item is in the list, and costs a turn otherwise. Prefer asking while the top items hold little of
the probability and turns remain; recommend when they hold much of it or few candidates remain.
Answer with action "ask" and up to {size} attribute names copied exactly from the offered list, or with
action "recommend" and no attributes. Give a one-line reason."""


class LLMChoice(BaseModel):
    """The model's decision for one turn."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["ask", "recommend"]
    attributes: list[str] = Field(default_factory=list, description="For ask: names from the offered list.")
    reason: str = ""


class LLMPolicyConfig(PreferenceConfig):
    """Configuration of :class:`LLMPolicy`.

    Attributes:
        shortlist: Attributes offered to the model per turn.
        output_retries: How often the model may correct an invalid answer.
        deadline_s: The most seconds one decision may wait on the model.
    """

    shortlist: int = Field(default=8, ge=1)
    output_retries: int = Field(default=1, ge=0)
    deadline_s: float = Field(default=30.0, gt=0.0)


@dataclass(frozen=True)
class _Offer:
    attributes: list[str]
    size: int


class LLMPolicy(PreferenceWeightedPolicy):
    """The LLM chooses ask or recommend (and the attribute) among the preference-weighted shortlist.

    Args:
        config: The typed configuration.
        model: An :class:`~recpilot.llm.client.LLMClient`, LLM settings for an OpenAI-compatible
            endpoint, or any pydantic-ai ``Model`` (tests pass a scripted one). None: every decision
            falls back to the preference-weighted policy.
        **overrides: Configuration fields.

    Attributes:
        fallbacks: Why each fallen-back decision fell back, in order.
        books: The model requests, tokens and rejected answers of every decision so far.
    """

    name = "llm"
    config_class = LLMPolicyConfig

    def __init__(
        self,
        config: LLMPolicyConfig | None = None,
        *,
        model: LLMClient | LLMSettings | Model | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(config, **overrides)
        self.llm = LLMClient.of(model) if model is not None else None
        self.fallbacks: list[str] = []
        self.books = CallBooks()
        settings: LLMPolicyConfig = self.config  # type: ignore[assignment]
        self._settings = settings
        instructions = INSTRUCTIONS.format(size=self.config.question_size)
        self._question = Question(instructions, LLMChoice, "Your decision for this turn.", max_tokens=150)

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        return anyio.run(self._adecide, context)

    async def _adecide(self, context: DecisionContext) -> Ask | Recommend:
        estimate = self.estimate(context)
        entropy = self.weighted_entropy(context, estimate)
        offered = np.argsort(-np.where(context.askable, entropy, -np.inf), kind="stable")
        offered = offered[: min(self._settings.shortlist, int(context.askable.sum()))]
        names = [context.space.attribute_names[int(c)] for c in offered]
        mass = context.space.attribute_mass(estimate.rows, estimate.probability)
        k = self.config.k
        prompt = _prompt(context, names, [float(mass[c]) for c in offered], estimate.top_mass(k), k)
        try:
            choice = await self._ask_model(prompt, _Offer(names, self.config.question_size))
        except _FAILURES as exc:
            reason = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning("LLM policy fell back to preference-weighted: %s", reason)
            self.fallbacks.append(reason)
            action = super()._decide(context)
            return action.model_copy(update={"note": f"fallback ({reason}); {action.note}"})
        if choice.action == "recommend":
            return context.recommend(estimate.rows, k, f"llm: {choice.reason}".strip())
        return Ask(
            attributes=choice.attributes,
            multiple_choice=len(choice.attributes) > 1,
            note=f"llm: {choice.reason}",
        )

    async def _ask_model(self, prompt: str, offer: _Offer) -> LLMChoice:
        if self.llm is None:
            raise LLMError("no language model is configured for the llm policy")

        def check(choice: LLMChoice) -> list[str]:
            return _choice_problems(choice, offer)

        async with self.llm.opened(self._settings.deadline_s) as llm:
            return await llm.ask(
                self._question, prompt, self.books, repairs=self._settings.output_retries, check=check
            )


def _choice_problems(choice: LLMChoice, offer: _Offer) -> list[str]:
    """An ask without attributes, or with attributes outside the shortlist, goes back to the model."""
    if choice.action == "recommend":
        return []
    unknown = [a for a in choice.attributes if a not in offer.attributes]
    if not choice.attributes or unknown or len(choice.attributes) > offer.size:
        return [
            f"ask needs 1 to {offer.size} attributes copied from the offered list "
            f"{offer.attributes}; got {choice.attributes}"
        ]
    return []


def _prompt(context: DecisionContext, names: list[str], mass: list[float], top_mass: float, k: int) -> str:
    state = context.state
    offered = "\n".join(f"- {name} (P(yes) = {p:.2f})" for name, p in zip(names, mass, strict=True))
    turns = "unbounded" if context.turns_left is None else str(context.turns_left)
    return (
        f"Accepted attributes: {', '.join(state.accepted_attributes) or 'none'}\n"
        f"Rejected attributes: {', '.join(state.rejected_attributes) or 'none'}\n"
        f"Rejected items: {len(state.rejected_items)}; candidates left: {len(context.candidates)}\n"
        f"Probability held by the top {k} items: {top_mass:.2f}\n"
        f"Turns left: {turns}\n"
        f"Attributes you may ask about:\n{offered}"
    )
