"""The classic MCR baselines: random, Abs Greedy and Max Entropy (as described in EAR / SCPR).

- :class:`RandomPolicy` flips a coin between asking a random askable attribute and recommending.
- :class:`AbsGreedyPolicy` recommends every turn (Christakopoulou et al. 2016); each rejected list only
  removes its items.
- :class:`MaxEntropyPolicy` asks the attribute whose yes/no answer splits the candidate set most evenly
  (maximum entropy of the share of candidates that have it) and recommends once few candidates remain.
"""

from __future__ import annotations

from pydantic import Field

from recpilot.conversation.policy.base import (
    Ask,
    ConversationPolicy,
    DecisionContext,
    PolicyConfig,
    Recommend,
    binary_entropy,
)


class RandomConfig(PolicyConfig):
    """Configuration of :class:`RandomPolicy`.

    Attributes:
        ask_probability: Chance of asking instead of recommending on each turn.
    """

    ask_probability: float = Field(default=0.5, ge=0.0, le=1.0)


class RandomPolicy(ConversationPolicy[RandomConfig]):
    """Ask a random askable attribute or recommend random candidates, at random (a floor to beat)."""

    name = "random"
    config_class = RandomConfig

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        if self.rng.random() < self.config.ask_probability:
            return self.question(context, self.rng.random(context.space.n_attributes), "random attribute")
        rows = self.rng.permutation(context.candidates)
        return context.recommend(rows, self.config.k, "random items")


class AbsGreedyPolicy(ConversationPolicy[PolicyConfig]):
    """Recommend the top-k candidates by preference score on every turn; never ask."""

    name = "abs-greedy"
    config_class = PolicyConfig

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        return context.recommend(context.ranked_candidates(), self.config.k, "always recommend")


class MaxEntropyPolicy(ConversationPolicy[PolicyConfig]):
    """Ask the attribute with maximum entropy over the candidate set; recommend when candidates <= k."""

    name = "max-entropy"
    config_class = PolicyConfig

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        n = len(context.candidates)
        if n <= self.config.k:
            return context.recommend(context.ranked_candidates(), self.config.k, f"{n} candidates left")
        entropy = binary_entropy(context.counts / max(1, n))
        return self.question(context, entropy, "maximum entropy over the candidates")
