"""Reaching a language model: settings, an OpenAI-compatible pydantic-ai model, retries and a test guard.

Nothing here is read or built at import time; :class:`LLMSettings` reads ``RECPILOT_LLM_*`` when
instantiated. The brain that uses these lives one layer up, in :mod:`recpilot.agent.llm_brain`
(``build_llm_brain``).
"""

from recpilot.llm.errors import LLM_UNAVAILABLE_NOTE, LLMError, LLMRequestRefusedError, LLMUnavailableError
from recpilot.llm.settings import LLM_OPTION_HELP, LLMSettings, load_llm_settings, parse_llm_option

__all__ = [
    "LLM_OPTION_HELP",
    "LLM_UNAVAILABLE_NOTE",
    "LLMError",
    "LLMRequestRefusedError",
    "LLMSettings",
    "LLMUnavailableError",
    "load_llm_settings",
    "parse_llm_option",
]
