"""Reaching a language model: settings, an OpenAI-compatible pydantic-ai model, retries and a test guard.

Nothing here is read or built at import time; :class:`LLMSettings` reads ``RECPILOT_LLM_*`` when
instantiated. The brain that uses these lives in :mod:`recpilot.agent.llm_brain`;
``recpilot.llm.build_llm_brain`` is re-exported lazily so importing settings does not load pydantic-ai.
"""

from typing import Any

from recpilot.llm.errors import LLM_UNAVAILABLE_NOTE, LLMError, LLMRequestRefusedError, LLMUnavailableError
from recpilot.llm.settings import LLM_OPTION_HELP, LLMSettings, load_llm_settings, parse_llm_option

__all__ = [
    "LLM_OPTION_HELP",
    "LLM_UNAVAILABLE_NOTE",
    "LLMError",
    "LLMRequestRefusedError",
    "LLMSettings",
    "LLMUnavailableError",
    "build_llm_brain",
    "load_llm_settings",
    "parse_llm_option",
]


def __getattr__(name: str) -> Any:
    if name == "build_llm_brain":
        from recpilot.agent.llm_brain import build_llm_brain

        return build_llm_brain
    raise AttributeError(f"module 'recpilot.llm' has no attribute {name!r}")
