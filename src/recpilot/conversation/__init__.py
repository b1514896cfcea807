"""Dialogue components the agent uses: dialogue state, ask-or-recommend policies, critiques and their
reflection on the ranking, feed commands and rules, the title-leak guard.

The harnesses that drive a policy or an agent (the MCR benchmark, free-form evaluation, ReDial
understanding) sit above the agent in :mod:`recpilot.crs`; the CRS user simulator sits with the other
simulated users in :mod:`recpilot.simulation.crs_user`. The LLM policy loads on first use, so a plain
import does not pull in pydantic-ai.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recpilot._lazy import lazy_exports
from recpilot.conversation.critiques import (
    ParsedCritique,
    apply_critique,
    critique_adjuster,
    parse_critique,
    parse_critiques,
)
from recpilot.conversation.feed import (
    FeedCommand,
    FeedVocabulary,
    apply_feed_rules,
    feed_adjuster,
    parse_feed_command,
    parse_rules_request,
)
from recpilot.conversation.feed_store import add_feed_rules, describe_rules, remove_feed_rules
from recpilot.conversation.leakguard import TitleGuard
from recpilot.conversation.policy import (
    Ask,
    AttributeSpace,
    ConversationPolicy,
    DecisionContext,
    PolicyConfig,
    Recommend,
    available_policies,
    build_policy,
)
from recpilot.conversation.state import Critique, DialogueState
from recpilot.memory.feed_rules import FeedRule, FeedTarget

if TYPE_CHECKING:
    from recpilot.conversation.policy.llm import LLMPolicy

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "LLMPolicy": "recpilot.conversation.policy.llm",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "Ask",
    "AttributeSpace",
    "ConversationPolicy",
    "Critique",
    "DecisionContext",
    "DialogueState",
    "FeedCommand",
    "FeedRule",
    "FeedTarget",
    "FeedVocabulary",
    "LLMPolicy",
    "ParsedCritique",
    "PolicyConfig",
    "Recommend",
    "TitleGuard",
    "add_feed_rules",
    "apply_critique",
    "apply_feed_rules",
    "available_policies",
    "build_policy",
    "critique_adjuster",
    "describe_rules",
    "feed_adjuster",
    "parse_critique",
    "parse_critiques",
    "parse_feed_command",
    "parse_rules_request",
    "remove_feed_rules",
]
