"""One fitted runtime on the suite's small film catalog for the safety tests."""

from __future__ import annotations

import dataclasses

import pytest

from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.testing.injection_catalog import build_catalog
from recpilot.testing.injection_suite import fresh_memory


@pytest.fixture(scope="session")
def films_runtime() -> AgentRuntime:
    """The catalog without attacker text (models fitted once)."""
    return build_runtime(build_catalog())


@pytest.fixture
def runtime(films_runtime: AgentRuntime) -> AgentRuntime:
    """The same catalog with a fresh memory holding the victim's own rule and liked film."""
    return dataclasses.replace(films_runtime, memory=fresh_memory())
