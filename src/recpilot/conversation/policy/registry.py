"""Policy names and construction by name: the ``policy`` kind of :mod:`recpilot.registry` (the CLI,
benchmarks and the agent use the same table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from recpilot.conversation.policy.base import ConversationPolicy
from recpilot.registry import REGISTRY, Spec

#: Registry name -> dotted class path of every policy, built-in and registered (a live, read-only view
#: of the registry; the llm policy pulls in pydantic-ai only when built).
POLICIES: Mapping[str, str] = REGISTRY.view("policy")


def available_policies() -> list[str]:
    """Names accepted by :func:`build_policy` (built-in and registered)."""
    return REGISTRY.names("policy")


def policy_class(name: str) -> type[ConversationPolicy[Any]]:
    """The class registered under ``name`` (or a dotted class path)."""
    return cast("type[ConversationPolicy[Any]]", REGISTRY.resolve("policy", name))


def build_policy(spec: str | Mapping[str, Any] | Spec, **config: Any) -> ConversationPolicy[Any]:
    """Build the policy ``spec`` names (a name, a ``{"class", "config"}`` mapping or a spec) with
    configuration fields ``config``."""
    return cast("ConversationPolicy[Any]", REGISTRY.build("policy", spec, **config))
