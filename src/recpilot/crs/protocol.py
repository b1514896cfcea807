"""What a conversational harness drives: an object that answers a user's message with a reply and items.

:class:`~recpilot.agent.RecommenderAgent` satisfies it; so does any wrapper around another CRS that
returns the agent layer's :class:`~recpilot.agent.types.AgentResponse`, so the harnesses evaluate it the
same way without importing (or subclassing) the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the agent package pulls in pydantic-ai; a plain import of the harnesses stays light
    from recpilot.agent.types import AgentResponse


class NamedBrain(Protocol):
    """The part of a recommender that decides a turn; reports name it."""

    @property
    def name(self) -> str:
        """A short name for reports (``"offline"``, ``"llm"``)."""
        ...


class ConversationalRecommender(Protocol):
    """A conversational recommender as the harnesses see it: one answer per user message."""

    @property
    def brain(self) -> NamedBrain:
        """What decides its turns (named in reports)."""
        ...

    def respond(self, user: str | int, message: str, *, session_id: str | None = None) -> AgentResponse:
        """Answer one message (blocking)."""
        ...

    async def arespond(
        self, user: str | int, message: str, *, session_id: str | None = None
    ) -> AgentResponse:
        """Answer one message."""
        ...
