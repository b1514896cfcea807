"""Conversational recommendation: dialogue state, ask-or-recommend policies, critiques, feed commands,
the MCR benchmark, simulated users for free-form evaluation and ReDial understanding.

The parts that reach the agent (free-form and ReDial evaluation) or a language model (the LLM policy
and user simulator) load on first use: ``recpilot.agent`` itself imports the critique and feed
modules of this package, and a plain import should not pull in pydantic-ai.
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
from recpilot.conversation.mcr import MCRConfig, MCRData, MCRReport, load_lastfm_star, make_policy, run_mcr
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
    from recpilot.conversation.freeform import (
        FreeformConfig,
        FreeformReport,
        evaluate_freeform,
        run_freeform,
        sample_goals,
    )
    from recpilot.conversation.policy.llm import LLMPolicy
    from recpilot.conversation.redial import extract_preferences, load_redial
    from recpilot.conversation.redial_eval import RedialReport, evaluate_redial
    from recpilot.conversation.usersim import (
        LLMUserSimulator,
        RuleBasedUserSimulator,
        SimulationGoal,
        UserSimulator,
    )

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "FreeformConfig": "recpilot.conversation.freeform",
    "FreeformReport": "recpilot.conversation.freeform",
    "evaluate_freeform": "recpilot.conversation.freeform",
    "run_freeform": "recpilot.conversation.freeform",
    "sample_goals": "recpilot.conversation.freeform",
    "LLMPolicy": "recpilot.conversation.policy.llm",
    "extract_preferences": "recpilot.conversation.redial",
    "load_redial": "recpilot.conversation.redial",
    "RedialReport": "recpilot.conversation.redial_eval",
    "evaluate_redial": "recpilot.conversation.redial_eval",
    "LLMUserSimulator": "recpilot.conversation.usersim",
    "RuleBasedUserSimulator": "recpilot.conversation.usersim",
    "SimulationGoal": "recpilot.conversation.usersim",
    "UserSimulator": "recpilot.conversation.usersim",
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
    "FreeformConfig",
    "FreeformReport",
    "LLMPolicy",
    "LLMUserSimulator",
    "MCRConfig",
    "MCRData",
    "MCRReport",
    "ParsedCritique",
    "PolicyConfig",
    "Recommend",
    "RedialReport",
    "RuleBasedUserSimulator",
    "SimulationGoal",
    "TitleGuard",
    "UserSimulator",
    "add_feed_rules",
    "apply_critique",
    "apply_feed_rules",
    "available_policies",
    "build_policy",
    "critique_adjuster",
    "describe_rules",
    "evaluate_freeform",
    "evaluate_redial",
    "extract_preferences",
    "feed_adjuster",
    "load_lastfm_star",
    "load_redial",
    "make_policy",
    "parse_critique",
    "parse_critiques",
    "parse_feed_command",
    "parse_rules_request",
    "remove_feed_rules",
    "run_freeform",
    "run_mcr",
    "sample_goals",
]
