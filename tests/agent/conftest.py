"""Shared fixtures of the agent tests: one runtime on the built-in MovieLens catalog per test session."""

from __future__ import annotations

import pytest

from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.data.builtin import load_builtin

ROLES = {"collaborative": "ease", "content": "content"}


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> AgentRuntime:
    """The built-in catalog with EASE (collaborative) and TF-IDF content models, fitted once per session.

    The memory is shared by every test that uses this fixture: tests that write preferences use user
    ids of their own.
    """
    return build_runtime(load_builtin(), roles=ROLES, cache_dir=tmp_path_factory.mktemp("agent-models"))
