"""Errors of the LLM layer: every failure to get a usable answer ends as an :class:`LLMError`."""

from __future__ import annotations

from recpilot.errors import RecpilotError
from recpilot.types import Usage

#: What the user is told when the offline recommender answered instead of the language model.
LLM_UNAVAILABLE_NOTE = "(The language model was unavailable; this answer comes from the offline recommender.)"


class LLMError(RecpilotError):
    """Base class of the LLM layer's errors."""


class LLMRequestRefusedError(LLMError):
    """A request to a non-loopback endpoint while remote requests are forbidden (as in tests).

    Args:
        url: The refused URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"refused an LLM request to {url}: remote LLM requests are forbidden here "
            "(recpilot.llm.models.ALLOW_REMOTE_LLM_REQUESTS is False); use a loopback endpoint"
        )


class LLMDeadlineError(LLMError):
    """A unit of work (an agent step, one decision, one draft) passed its deadline, retries included.

    Args:
        seconds: The deadline.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"no usable answer within the {seconds:g}s deadline")


class LLMUnavailableError(LLMError):
    """The language model gave no usable answer after bounded retries; the offline brain takes over.

    Args:
        stage: What the brain was doing (``plan``, ``steps``, ``compose``, ``reflect``).
        reason: The last failure, in words (never a traceback).
        usage: The LLM calls, tokens and failures spent before giving up, for the turn's books.
    """

    def __init__(self, stage: str, reason: str, usage: Usage | None = None) -> None:
        self.stage = stage
        self.reason = reason
        self.usage = usage or Usage()
        super().__init__(f"the language model failed during {stage}: {reason}")

    @property
    def note(self) -> str:
        """The sentence to show the user."""
        return LLM_UNAVAILABLE_NOTE
