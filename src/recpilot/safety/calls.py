"""What a policy reads of a tool call, as protocols: the safety layer sits below the tools that it
guards, so it names the few attributes it needs instead of importing the dispatcher's types
(:class:`~recpilot.tools.dispatcher.ToolSpec` and :class:`~recpilot.tools.context.ToolContext` satisfy
them)."""

from __future__ import annotations

from typing import Protocol

from recpilot.safety.request import UserRequest


class GuardedTool(Protocol):
    """A tool as a policy sees it."""

    @property
    def name(self) -> str:
        """The tool's name (what rules match)."""
        ...

    @property
    def privilege(self) -> str:
        """``read`` or ``write``."""
        ...


class CallerContext(Protocol):
    """The turn a call belongs to, as a policy sees it."""

    @property
    def user_id(self) -> str:
        """The user of this turn (external id as text)."""
        ...

    @property
    def request(self) -> UserRequest:
        """What the user's own message asked for."""
        ...
