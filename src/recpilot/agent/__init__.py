"""The recommender agent: brains (offline, LLM), tools, grounding, explanations, memory."""

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.agent.types import (
    AgentResponse,
    HardConstraints,
    NumericRange,
    Plan,
    PlanStep,
    Reason,
    RecommendedItem,
    TraceStep,
    Usage,
)

__all__ = [
    "Act",
    "AgentResponse",
    "AgentRuntime",
    "Brain",
    "Composition",
    "HardConstraints",
    "NumericRange",
    "Plan",
    "PlanStep",
    "Reason",
    "RecommendedItem",
    "RecommenderAgent",
    "ToolRunner",
    "TraceStep",
    "Turn",
    "Usage",
    "build_runtime",
]
