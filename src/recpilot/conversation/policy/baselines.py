"""The classic MCR baselines: random, Abs Greedy and Max Entropy (as described in EAR / SCPR).

- :class:`RandomPolicy` flips a coin between asking a random askable attribute and recommending.
- :class:`AbsGreedyPolicy` recommends every turn (Christakopoulou et al. 2016) and counts each rejected
  list against the rejected items' neighbours.
- :class:`MaxEntropyPolicy` asks the attribute whose yes/no answer splits the candidate set most evenly
  (maximum entropy of the share of candidates that have it), or recommends with a fixed probability,
  and always recommends once few candidates remain.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from recpilot.conversation.policy.base import (
    Ask,
    ConversationPolicy,
    DecisionContext,
    PolicyConfig,
    Recommend,
    binary_entropy,
)
from recpilot.conversation.policy.space import IndexArray

#: Defaults of the published-protocol baselines (chosen on LastFM*'s valid split; benchmarks/README.md).
NEGATIVE_FEEDBACK = 0.5
RECOMMEND_PROBABILITY = 0.1


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


class AbsGreedyConfig(PolicyConfig):
    """Configuration of :class:`AbsGreedyPolicy`.

    Attributes:
        negative_feedback: Weight of the online update on rejected items: each candidate's standardised
            score drops by this much per unit of attribute cosine similarity to the items rejected so
            far (0 only removes the rejected items, through the environment). EAR and SCPR give no
            step size; 0.5 was chosen on LastFM*'s valid split (see ``benchmarks/README.md``).
    """

    negative_feedback: float = Field(default=NEGATIVE_FEEDBACK, ge=0.0)


class AbsGreedyPolicy(ConversationPolicy[AbsGreedyConfig]):
    """Recommend the top-k candidates on every turn, never ask; rejected lists count against neighbours.

    EAR (Lei et al., WSDM 2020, section 5.1.3) and SCPR (Lei et al., KDD 2020, section 5.1.3) describe
    their Abs Greedy baseline (after Christakopoulou et al., KDD 2016) as a policy that "only recommends
    items in each turn without asking any question" and, when a list is rejected, "updates the model by
    taking the rejected items as negative examples". Their model is a factorisation machine; here the
    prior's scores stand in for it and the update is one gradient step of a linear score away from the
    rejected items' attribute vectors: ``score(i) - negative_feedback * sum_j cos(i, j)``.
    """

    name = "abs-greedy"
    config_class = AbsGreedyConfig

    def rank(self, context: DecisionContext) -> IndexArray:
        """Candidates best first by the standardised prior, lowered near the rejected items."""
        rows = context.candidates
        values = context.scores[rows]
        spread = float(values.std()) if len(rows) else 0.0
        z = (values - values.mean()) / spread if spread > 0 else np.zeros(len(rows))
        rejected = context.space.item_positions(context.state.rejected_items)
        rejected = rejected[rejected >= 0]
        if self.config.negative_feedback > 0 and len(rejected) and len(rows):
            z = z - self.config.negative_feedback * context.space.similarity_to(rejected)[rows]
        return rows[np.argsort(-z, kind="stable")]

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        return context.recommend(self.rank(context), self.config.k, "always recommend")


class MaxEntropyConfig(PolicyConfig):
    """Configuration of :class:`MaxEntropyPolicy`.

    Attributes:
        recommend_probability: Chance, on each turn with more than ``k`` candidates, of recommending the
            top-k by the prior instead of asking. EAR and SCPR give no value; 0.1 was chosen on
            LastFM*'s valid split (see ``benchmarks/README.md``). 0 asks until ``k`` candidates remain.
    """

    recommend_probability: float = Field(default=RECOMMEND_PROBABILITY, ge=0.0, le=1.0)


class MaxEntropyPolicy(ConversationPolicy[MaxEntropyConfig]):
    """Ask the maximum-entropy attribute over the candidates, or recommend with a fixed probability.

    EAR (section 5.1.3) and SCPR (section 5.1.3) describe Max Entropy as following the rule of EAR's
    section 4.2 to "generate attributes with maximum entropy" over the candidate items, and to ask such
    an attribute "or recommend top-ranked items with a certain probability". The candidates are the
    environment's (under the published rules a "no" does not remove items, so rejected attributes'
    items stay in the entropy). With ``k`` or fewer candidates left it always recommends.
    """

    name = "max-entropy"
    config_class = MaxEntropyConfig

    def _decide(self, context: DecisionContext) -> Ask | Recommend:
        n = len(context.candidates)
        if n <= self.config.k:
            return context.recommend(context.ranked_candidates(), self.config.k, f"{n} candidates left")
        if self.config.recommend_probability > 0 and self.rng.random() < self.config.recommend_probability:
            return context.recommend(context.ranked_candidates(), self.config.k, "recommend by chance")
        entropy = binary_entropy(context.counts / n)
        return self.question(context, entropy, "maximum entropy over the candidates")
