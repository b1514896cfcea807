"""Tools over the user's account as a whole."""

from __future__ import annotations

from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolOutput, ToolSpec, tool


@tool(privilege="write")
def forget_everything(ctx: ToolContext) -> ToolOutput:
    """Delete everything remembered about the user (preferences, summary, sessions, feed rules); the
    default policy asks the user to confirm first."""
    removed = ctx.memory.forget_user(ctx.user_id)
    return ToolOutput(
        summary=f"deleted everything remembered about you ({removed} records)", data={"removed": removed}
    )


ACCOUNT_TOOLS: tuple[ToolSpec, ...] = (forget_everything,)
