"""Exploration strategies as recommenders: they wrap a base recommender and learn from simulated feedback.

Each strategy is a :class:`~recpilot.simulation.environment.RecommenderUnderTest`: it asks the base for
a candidate pool (``pool`` items, best first) and chooses the page from it. After each page the runner
calls :meth:`ExplorationRecommender.observe` with the page and the user's decision; an examined item
(viewed or clicked) is one trial, a click its reward. Items the user never examined (``skip``) teach
nothing: their non-click says nothing about their appeal.

- :class:`EpsilonGreedy` keeps the base ranking and swaps each slot, with probability ``epsilon``, for a
  random candidate from further down the pool (``epsilon=0`` is the base ranking exactly).
- :class:`ThompsonSampling` keeps a Beta posterior of every item's click probability (population-wide)
  and ranks candidates by a draw from it.
- :class:`LinUCB` models the click probability as linear in item features (genres or model embeddings)
  and ranks by the upper confidence bound ``theta.x + alpha * sqrt(x' A^-1 x)``.

Draws are seeded from the run seed, the user and how far the user has come, so a strategy's pages do
not depend on the order in which concurrent users happen to ask.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.simulation.environment import RecommenderUnderTest
from recpilot.simulation.persona import genre_matrix
from recpilot.simulation.types import Page, PageDecision

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Feedback:
    """One examined item of a page.

    Attributes:
        user_id: The persona's user id.
        item_id: The item.
        position: Its position on the page.
        clicked: Whether the user clicked it.
    """

    user_id: str
    item_id: str
    position: int
    clicked: bool


def page_feedback(user_id: str, page: Page, decision: PageDecision) -> list[Feedback]:
    """The examined items of ``page`` with their click outcome (skipped items left out)."""
    clicked = {a.item_id for a in decision.actions if a.kind in ("click", "rate")}
    examined = clicked | {a.item_id for a in decision.actions if a.kind == "view"}
    return [
        Feedback(user_id, item.item_id, item.position, item.item_id in clicked)
        for item in page.items
        if item.item_id in examined
    ]


class ExplorationRecommender(ABC):
    """A recommender that explores around a base recommender and learns from feedback.

    Subclasses fill :meth:`_choose` (the page from the candidate pool) and :meth:`_learn`.

    Args:
        base: The recommender whose ranking supplies the candidates.
        pool: How many candidates to ask the base for (at least the page size).
        seed: The seed of every random draw.

    Attributes:
        name: Short name for reports.
        trials: Examined items observed so far.
        clicks: Clicks observed so far.
    """

    name = "exploration"

    def __init__(self, base: RecommenderUnderTest, *, pool: int = 50, seed: int = 0) -> None:
        if pool < 1:
            raise ConfigError(f"the candidate pool must hold at least 1 item, got {pool}")
        self.base = base
        self.pool = pool
        self.seed = seed
        self.trials = 0
        self.clicks = 0

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        """Up to ``k`` items chosen from the base's top ``max(k, pool)`` candidates."""
        candidates = await self.base.arecommend(user_id, history, max(k, self.pool), exclude)
        if not candidates:
            return []
        rng = np.random.default_rng([self.seed, _stable(user_id), len(history), len(exclude)])
        return self._choose(candidates, min(k, len(candidates)), rng)

    def observe(self, user_id: str, page: Page, decision: PageDecision) -> None:
        """Learn from what the user did with ``page`` (called by the runner after each page)."""
        for feedback in page_feedback(user_id, page, decision):
            self.trials += 1
            self.clicks += feedback.clicked
            self._learn(feedback)

    @abstractmethod
    def _choose(self, candidates: list[str], k: int, rng: np.random.Generator) -> list[str]:
        """``k`` of ``candidates`` (base order, best first), best first."""

    @abstractmethod
    def _learn(self, feedback: Feedback) -> None:
        """Update the strategy with one examined item."""


class EpsilonGreedy(ExplorationRecommender):
    """The base ranking, each slot swapped with probability ``epsilon`` for a random lower candidate.

    The greedy part is the base model, which learns when it is refitted (see
    :mod:`recpilot.simulation.rounds`); this strategy only decides how much to explore.

    Args:
        base: The base recommender.
        epsilon: Probability of exploring in each slot, in [0, 1].
        pool: Candidates asked from the base.
        seed: Seed of the draws.
    """

    name = "epsilon-greedy"

    def __init__(
        self, base: RecommenderUnderTest, epsilon: float = 0.1, *, pool: int = 50, seed: int = 0
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"epsilon must be in [0, 1], got {epsilon}")
        super().__init__(base, pool=pool, seed=seed)
        self.epsilon = epsilon

    def _choose(self, candidates: list[str], k: int, rng: np.random.Generator) -> list[str]:
        greedy = list(candidates[:k])
        spare = list(candidates[k:])
        explore = rng.random(k) < self.epsilon
        for slot in np.flatnonzero(explore).tolist():
            if not spare:
                break
            greedy[slot] = spare.pop(int(rng.integers(len(spare))))
        return greedy

    def _learn(self, feedback: Feedback) -> None:
        """Nothing to learn beyond the counts: the greedy part is the base model."""


class ThompsonSampling(ExplorationRecommender):
    """Beta-Bernoulli Thompson sampling over the candidates' click probabilities.

    Args:
        base: The base recommender.
        prior_clicks: Prior pseudo-clicks of every item (Beta alpha).
        prior_misses: Prior pseudo-misses of every item (Beta beta).
        pool: Candidates asked from the base.
        seed: Seed of the draws.
    """

    name = "thompson"

    def __init__(
        self,
        base: RecommenderUnderTest,
        *,
        prior_clicks: float = 1.0,
        prior_misses: float = 1.0,
        pool: int = 50,
        seed: int = 0,
    ) -> None:
        if prior_clicks <= 0 or prior_misses <= 0:
            raise ConfigError("Beta priors must be positive")
        super().__init__(base, pool=pool, seed=seed)
        self.prior = (prior_clicks, prior_misses)
        self.successes: dict[str, float] = {}
        self.failures: dict[str, float] = {}

    def posterior_mean(self, item_id: str) -> float:
        """The posterior mean click probability of an item."""
        a = self.prior[0] + self.successes.get(item_id, 0.0)
        b = self.prior[1] + self.failures.get(item_id, 0.0)
        return a / (a + b)

    def _choose(self, candidates: list[str], k: int, rng: np.random.Generator) -> list[str]:
        a = self.prior[0] + np.array([self.successes.get(i, 0.0) for i in candidates])
        b = self.prior[1] + np.array([self.failures.get(i, 0.0) for i in candidates])
        draws = rng.beta(a, b)
        order = np.argsort(-draws, kind="stable")[:k]
        return [candidates[i] for i in order.tolist()]

    def _learn(self, feedback: Feedback) -> None:
        book = self.successes if feedback.clicked else self.failures
        book[feedback.item_id] = book.get(feedback.item_id, 0.0) + 1.0


class LinUCB(ExplorationRecommender):
    """Linear upper-confidence-bound ranking over item features (one shared model of the population).

    Args:
        base: The base recommender.
        features: A feature vector per item id (all of one length); items without one get zeros.
        alpha: Weight of the confidence bonus.
        ridge: The ridge prior (``A`` starts as ``ridge * I``).
        pool: Candidates asked from the base.
        seed: Seed of tie-breaking.
    """

    name = "linucb"

    def __init__(
        self,
        base: RecommenderUnderTest,
        features: Mapping[str, npt.ArrayLike],
        *,
        alpha: float = 1.0,
        ridge: float = 1.0,
        pool: int = 50,
        seed: int = 0,
    ) -> None:
        if not features:
            raise ConfigError("LinUCB needs item features (genres or model embeddings); got none")
        super().__init__(base, pool=pool, seed=seed)
        self.features = {str(k): np.asarray(v, dtype=np.float64) for k, v in features.items()}
        self.dim = len(next(iter(self.features.values())))
        if any(v.shape != (self.dim,) for v in self.features.values()):
            raise ConfigError(f"LinUCB features must all be vectors of length {self.dim}")
        self.alpha = alpha
        self.a_matrix: FloatArray = ridge * np.eye(self.dim)
        self.b_vector: FloatArray = np.zeros(self.dim)

    def _vectors(self, items: Sequence[str]) -> FloatArray:
        zero = np.zeros(self.dim)
        return np.stack([self.features.get(i, zero) for i in items])

    def scores(self, items: Sequence[str]) -> FloatArray:
        """The upper confidence bound of each item."""
        x = self._vectors(items)
        a_inv = np.linalg.inv(self.a_matrix)
        theta = a_inv @ self.b_vector
        bonus = np.sqrt(np.einsum("ij,jk,ik->i", x, a_inv, x))
        return np.asarray(x @ theta + self.alpha * bonus, dtype=np.float64)

    def _choose(self, candidates: list[str], k: int, rng: np.random.Generator) -> list[str]:
        ucb = self.scores(candidates)
        # ties (e.g. before any feedback) keep the base order; a tiny jitter would hide that
        order = np.argsort(-ucb, kind="stable")[:k]
        return [candidates[i] for i in order.tolist()]

    def _learn(self, feedback: Feedback) -> None:
        x = self.features.get(feedback.item_id)
        if x is None:
            return
        self.a_matrix += np.outer(x, x)
        self.b_vector += float(feedback.clicked) * x


def genre_features(dataset: Dataset) -> dict[str, FloatArray]:
    """One-hot genre vectors (L2-normalised) per external item id, for :class:`LinUCB`."""
    genres, _ = genre_matrix(dataset)
    dense = np.asarray(genres.toarray(), dtype=np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    dense = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
    return {str(item): dense[i] for i, item in enumerate(dataset.items.external_ids.tolist())}


def embedding_features(item_ids: Sequence[object], vectors: npt.ArrayLike) -> dict[str, FloatArray]:
    """Feature vectors from a model's item embeddings (e.g. ``model.item_factors`` of ALS/BPR).

    Args:
        item_ids: External ids in the order of the rows of ``vectors`` (``model.item_map.external_ids``).
        vectors: An ``(n_items, d)`` array.
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(item_ids):
        raise ConfigError(f"expected an ({len(item_ids)}, d) embedding matrix, got shape {matrix.shape}")
    return {str(item): matrix[i] for i, item in enumerate(item_ids)}


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


__all__ = [
    "EpsilonGreedy",
    "ExplorationRecommender",
    "Feedback",
    "LinUCB",
    "ThompsonSampling",
    "embedding_features",
    "genre_features",
    "page_feedback",
]
