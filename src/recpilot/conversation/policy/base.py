"""The ask-or-recommend contract: typed actions, the decision context and the policy base class.

A policy reads a :class:`~recpilot.conversation.state.DialogueState`, an
:class:`~recpilot.conversation.policy.space.AttributeSpace` and optional per-item preference scores (a
collaborative model's scores for this user, aligned with the space's rows) and returns one
:class:`Ask` or :class:`Recommend`. :meth:`ConversationPolicy.decide` builds the candidate set, applies
the rules every policy shares (recommend on the last turn or when nothing is left to ask) and checks the
answer; subclasses fill one hook, :meth:`ConversationPolicy._decide`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recpilot.conversation.policy.space import AttributeSpace, FloatArray, IndexArray
from recpilot.conversation.state import DialogueState
from recpilot.errors import ConfigError


class Ask(BaseModel):
    """Ask about attributes: one (a yes/no question) or several (the user picks all that apply).

    Attributes:
        attributes: ``field=value`` attributes offered.
        multiple_choice: True when several attributes are offered at once.
        note: Why the policy chose this (for traces).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ask"] = "ask"
    attributes: list[str] = Field(min_length=1)
    multiple_choice: bool = False
    note: str = ""


class Recommend(BaseModel):
    """Recommend a ranked list of items.

    Attributes:
        item_ids: External item ids, best first (at most ``k``).
        k: The list length the policy aimed for.
        note: Why the policy chose this (for traces).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["recommend"] = "recommend"
    item_ids: list[str]
    k: int = Field(ge=1)
    note: str = ""


PolicyAction = Annotated[Ask | Recommend, Field(discriminator="kind")]


class PolicyConfig(BaseModel):
    """Configuration every policy shares.

    Attributes:
        k: Items per recommendation.
        question_size: Attributes per question: 1 asks yes/no questions, more asks multiple-choice ones.
        seed: Seed of any randomness (tie breaks, the random policy).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(default=10, ge=1)
    question_size: int = Field(default=1, ge=1)
    seed: int = 0


ConfigT = TypeVar("ConfigT", bound=PolicyConfig)


@dataclass(eq=False)
class DecisionContext:
    """Everything one decision needs, computed once by :meth:`ConversationPolicy.decide`.

    Attributes:
        state: The dialogue state.
        space: The attribute space.
        candidates: Rows of the items still possible, in row order.
        scores: Preference scores over every row (zeros when none were given).
        has_scores: Whether real preference scores were given.
        turns_left: System turns left in the conversation, None when unbounded.
    """

    state: DialogueState
    space: AttributeSpace
    candidates: IndexArray
    scores: FloatArray
    has_scores: bool
    turns_left: int | None

    @cached_property
    def counts(self) -> FloatArray:
        """Per attribute, how many candidates have it."""
        return self.space.attribute_mass(self.candidates)

    @cached_property
    def askable(self) -> npt.NDArray[np.bool_]:
        """Attributes worth asking: held by some but not all candidates and not asked before."""
        counts = self.counts
        mask = (counts > 0) & (counts < len(self.candidates))
        known = [*self.state.asked, *self.state.accepted_attributes, *self.state.rejected_attributes]
        cols = self.space.attribute_positions(known)
        mask[cols[cols >= 0]] = False
        return mask

    def ranked_candidates(self, adjusted: FloatArray | None = None) -> IndexArray:
        """Candidate rows best first by ``adjusted`` (default: the scores); ties keep row order."""
        values = self.scores if adjusted is None else adjusted
        order = np.argsort(-values[self.candidates], kind="stable")
        return self.candidates[order]

    def recommend(self, rows: IndexArray, k: int, note: str = "") -> Recommend:
        """A :class:`Recommend` of the first ``k`` of ``rows``."""
        ids = [self.space.item_ids[int(r)] for r in rows[:k]]
        return Recommend(item_ids=ids, k=k, note=note)


class ConversationPolicy(ABC, Generic[ConfigT]):
    """Base class of ask-or-recommend policies.

    Args:
        config: The typed configuration; built from ``overrides`` when omitted.
        **overrides: Configuration fields, validated by ``config_class``.

    Class attributes:
        name: Registry name.
        config_class: The pydantic configuration model.
    """

    name: ClassVar[str] = "policy"
    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: ConfigT | None = None, **overrides: Any) -> None:
        try:
            if config is None:
                config = self.config_class(**overrides)  # type: ignore[assignment]
            elif overrides:
                config = self.config_class(**{**config.model_dump(), **overrides})  # type: ignore[assignment]
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"invalid configuration for policy {self.name!r}: {where}: {err['msg']}"
            ) from None
        assert config is not None
        self.config: ConfigT = config
        self.rng = np.random.default_rng(config.seed)

    @abstractmethod
    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        """Choose the next action; the context always has at least one askable attribute."""

    async def _adecide(self, context: DecisionContext) -> Ask | Recommend:
        """The asynchronous hook; policies that wait on I/O (an LLM) override it."""
        return self._decide(context)

    def reset(self) -> None:
        """Forget per-conversation memory (the base policies keep none beyond the state)."""

    def context(
        self,
        state: DialogueState,
        space: AttributeSpace,
        scores: npt.ArrayLike | None = None,
        *,
        turns_left: int | None = None,
        candidates: npt.NDArray[np.bool_] | None = None,
    ) -> DecisionContext:
        """The decision context: candidates from the state's attributes and rejected items.

        ``candidates`` (a boolean mask over the space's rows) replaces that filter when an environment
        keeps its own candidate set (the MCR benchmark's published rules); ``state.candidates`` still
        restricts either.
        """
        if scores is None:
            values = np.zeros(space.n_items, dtype=np.float64)
        else:
            values = np.asarray(scores, dtype=np.float64)
            if values.shape != (space.n_items,):
                raise ConfigError(
                    f"policy {self.name!r}: scores have shape {values.shape}, expected ({space.n_items},) "
                    "aligned with the attribute space's items"
                )
        if candidates is None:
            mask = space.candidate_mask(
                state.accepted_attributes, state.rejected_attributes, state.rejected_items
            )
        else:
            mask = np.asarray(candidates, dtype=np.bool_).copy()
            if mask.shape != (space.n_items,):
                raise ConfigError(
                    f"policy {self.name!r}: candidates have shape {mask.shape}, expected ({space.n_items},)"
                )
        if state.candidates is not None:  # a caller's own restriction (search results, a shortlist)
            allowed = space.item_positions(state.candidates)
            keep = np.zeros(space.n_items, dtype=np.bool_)
            keep[allowed[allowed >= 0]] = True
            mask &= keep
        return DecisionContext(
            state=state,
            space=space,
            candidates=np.flatnonzero(mask).astype(np.int64),
            scores=values,
            has_scores=scores is not None,
            turns_left=turns_left,
        )

    def decide(
        self,
        state: DialogueState,
        space: AttributeSpace,
        scores: npt.ArrayLike | None = None,
        *,
        turns_left: int | None = None,
        candidates: npt.NDArray[np.bool_] | None = None,
    ) -> Ask | Recommend:
        """The next action for ``state``.

        Args:
            state: The dialogue state (accepted/rejected attributes and items, what was asked).
            space: The items and their attributes.
            scores: Optional preference scores for this user, one per item row of ``space``.
            turns_left: System turns left (the last one always recommends); None when unbounded.
            candidates: The environment's candidate mask over the space's rows (see :meth:`context`).
        """
        ctx = self.context(state, space, scores, turns_left=turns_left, candidates=candidates)
        return self._shared_rule(ctx) or self._checked(ctx, self._decide(ctx))

    async def adecide(
        self,
        state: DialogueState,
        space: AttributeSpace,
        scores: npt.ArrayLike | None = None,
        *,
        turns_left: int | None = None,
        candidates: npt.NDArray[np.bool_] | None = None,
    ) -> Ask | Recommend:
        """:meth:`decide` for callers already inside an event loop."""
        ctx = self.context(state, space, scores, turns_left=turns_left, candidates=candidates)
        return self._shared_rule(ctx) or self._checked(ctx, await self._adecide(ctx))

    def rank(self, ctx: DecisionContext) -> IndexArray:
        """Candidate rows best first, for the shared recommend rules (default: by the scores)."""
        return ctx.ranked_candidates()

    def _shared_rule(self, ctx: DecisionContext) -> Recommend | None:
        if ctx.turns_left is not None and ctx.turns_left <= 1:
            return ctx.recommend(self.rank(ctx), self.config.k, "last turn")
        if not ctx.askable.any():
            return ctx.recommend(self.rank(ctx), self.config.k, "nothing left to ask")
        return None

    def _checked(self, ctx: DecisionContext, action: Ask | Recommend) -> Ask | Recommend:
        if isinstance(action, Recommend):
            rejected = set(ctx.state.rejected_items)
            bad = [i for i in action.item_ids if i in rejected]
            if bad:  # an environment may keep rejected items on offer (the published rules do)
                offered = np.isin(ctx.space.item_positions(bad), ctx.candidates)
                bad = [i for i, ok in zip(bad, offered, strict=True) if not ok]
            if bad or len(action.item_ids) > action.k:
                raise ConfigError(f"policy {self.name!r} recommended rejected items {bad} or more than k")
            return action
        known = set(ctx.state.asked)
        repeated = [a for a in action.attributes if a in known]
        if repeated:
            raise ConfigError(f"policy {self.name!r} asked again about {repeated}")
        return action

    def question(self, ctx: DecisionContext, ranking: FloatArray, note: str = "") -> Ask:
        """Ask about the ``question_size`` askable attributes ranked highest by ``ranking``."""
        values = np.where(ctx.askable, ranking, -np.inf)
        size = min(self.config.question_size, int(ctx.askable.sum()))
        top = np.argsort(-values, kind="stable")[:size]
        names = [ctx.space.attribute_names[int(c)] for c in top]
        return Ask(attributes=names, multiple_choice=len(names) > 1, note=note)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({fields})"


def binary_entropy(p: FloatArray) -> FloatArray:
    """Entropy in bits of a yes/no answer with probability ``p`` of yes (0 at p in {0, 1})."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    h = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return np.where((p <= 0) | (p >= 1), 0.0, h)
