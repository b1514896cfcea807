"""Agent tools: typed functions over the catalog, the models and the user's memory, and their dispatcher."""

from recpilot.tools.context import CandidateSet, Catalog, ToolContext, normalise_title
from recpilot.tools.dispatcher import (
    AllowAll,
    ToolCall,
    ToolDeniedError,
    ToolDispatcher,
    ToolOutput,
    ToolPolicy,
    ToolSpec,
    tool,
)
from recpilot.tools.recommender_tools import RECOMMENDER_TOOLS

__all__ = [
    "RECOMMENDER_TOOLS",
    "AllowAll",
    "CandidateSet",
    "Catalog",
    "ToolCall",
    "ToolContext",
    "ToolDeniedError",
    "ToolDispatcher",
    "ToolOutput",
    "ToolPolicy",
    "ToolSpec",
    "normalise_title",
    "tool",
]
