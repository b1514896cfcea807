"""Fixtures of the LLM tests: remote LLM requests are refused; a small agent runtime on MovieLens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.data.builtin import load_builtin
from recpilot.llm.models import override_allow_remote_requests


@pytest.fixture(autouse=True, scope="session")
def _no_remote_llm() -> Iterator[None]:
    with override_allow_remote_requests(False):
        yield


@pytest.fixture(scope="session")
def llm_runtime() -> AgentRuntime:
    """The built-in MovieLens catalog with fast role models (item-kNN instead of EASE keeps it to seconds)."""
    return build_runtime(load_builtin(), roles={"collaborative": "itemknn", "content": "content"})
