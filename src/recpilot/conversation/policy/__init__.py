"""Ask-or-recommend policies for conversational recommendation over an attribute space."""

from recpilot.conversation.policy.base import (
    Ask,
    ConversationPolicy,
    DecisionContext,
    PolicyAction,
    PolicyConfig,
    Recommend,
)
from recpilot.conversation.policy.baselines import (
    AbsGreedyConfig,
    AbsGreedyPolicy,
    MaxEntropyConfig,
    MaxEntropyPolicy,
    RandomPolicy,
)
from recpilot.conversation.policy.preference import PreferenceConfig, PreferenceWeightedPolicy
from recpilot.conversation.policy.registry import available_policies, build_policy
from recpilot.conversation.policy.space import AttributeSpace

__all__ = [
    "AbsGreedyConfig",
    "AbsGreedyPolicy",
    "Ask",
    "AttributeSpace",
    "ConversationPolicy",
    "DecisionContext",
    "MaxEntropyConfig",
    "MaxEntropyPolicy",
    "PolicyAction",
    "PolicyConfig",
    "PreferenceConfig",
    "PreferenceWeightedPolicy",
    "RandomPolicy",
    "Recommend",
    "available_policies",
    "build_policy",
]
