"""Fixtures of the LLM tests: remote LLM requests are refused; a small agent runtime on MovieLens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.data.builtin import load_builtin
from recpilot.llm.models import override_allow_remote_requests
from recpilot.testing.local_llm import LocalLLMServer, local_llm_missing


@pytest.fixture(autouse=True, scope="session")
def _no_remote_llm() -> Iterator[None]:
    with override_allow_remote_requests(False):
        yield


@pytest.fixture(scope="session")
def llm_runtime() -> AgentRuntime:
    """The built-in MovieLens catalog with fast role models (item-kNN instead of EASE keeps it to seconds)."""
    return build_runtime(load_builtin(), roles={"collaborative": "itemknn", "content": "content"})


@pytest.fixture(scope="session")
def real_llm() -> Iterator[LocalLLMServer]:
    """llama.cpp's server with SmolLM2 on loopback, started once per test session.

    Skips only when the ``[local-llm]`` extra is not installed (CI installs it, so the tests run there).
    """
    missing = local_llm_missing()
    if missing is not None:
        pytest.skip(f"the real-model tests need the [local-llm] extra: {missing}")
    with LocalLLMServer() as server:
        yield server
