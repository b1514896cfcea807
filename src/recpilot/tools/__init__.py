"""Agent tools: typed functions over the catalog, the models and the user's memory, and their dispatcher."""

from recpilot.tools.context import CandidateSet, Catalog, ScoreAdjuster, ToolContext, normalise_title
from recpilot.tools.discovery_tools import DISCOVERY_TOOLS, exclude_seen, match_description
from recpilot.tools.dispatcher import (
    ToolCall,
    ToolDeniedError,
    ToolDispatcher,
    ToolOutput,
    ToolPolicy,
    ToolSpec,
    tool,
)
from recpilot.tools.recommender_tools import CORE_TOOLS, RECOMMENDER_TOOLS

__all__ = [
    "CORE_TOOLS",
    "DISCOVERY_TOOLS",
    "RECOMMENDER_TOOLS",
    "CandidateSet",
    "Catalog",
    "ScoreAdjuster",
    "ToolCall",
    "ToolContext",
    "ToolDeniedError",
    "ToolDispatcher",
    "ToolOutput",
    "ToolPolicy",
    "ToolSpec",
    "exclude_seen",
    "match_description",
    "normalise_title",
    "tool",
]
