"""Policy names and construction by name (the CLI, benchmarks and the agent use the same table)."""

from __future__ import annotations

import importlib
from typing import Any

from recpilot.conversation.policy.base import ConversationPolicy
from recpilot.errors import ConfigError

#: Registry name -> dotted class path (imported lazily: the llm policy pulls in pydantic-ai).
POLICIES: dict[str, str] = {
    "random": "recpilot.conversation.policy.baselines.RandomPolicy",
    "abs-greedy": "recpilot.conversation.policy.baselines.AbsGreedyPolicy",
    "max-entropy": "recpilot.conversation.policy.baselines.MaxEntropyPolicy",
    "preference-weighted": "recpilot.conversation.policy.preference.PreferenceWeightedPolicy",
    "llm": "recpilot.conversation.policy.llm.LLMPolicy",
}


def available_policies() -> list[str]:
    """Names accepted by :func:`build_policy`."""
    return list(POLICIES)


def policy_class(name: str) -> type[ConversationPolicy[Any]]:
    """The class registered under ``name``."""
    path = POLICIES.get(name.strip().lower())
    if path is None:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    module, _, attr = path.rpartition(".")
    cls: type[ConversationPolicy[Any]] = getattr(importlib.import_module(module), attr)
    return cls


def build_policy(name: str, **config: Any) -> ConversationPolicy[Any]:
    """Build the policy registered under ``name`` with configuration fields ``config``."""
    return policy_class(name)(**config)
