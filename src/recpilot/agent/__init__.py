"""The recommender agent: brains (offline, LLM), tools, grounding, explanations, memory."""

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.events import (
    DoneEvent,
    FallbackEvent,
    ItemEvent,
    PlanEvent,
    ReplyEvent,
    RolledBackEvent,
    StepEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnEvent,
)
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
    "DoneEvent",
    "FallbackEvent",
    "HardConstraints",
    "ItemEvent",
    "NumericRange",
    "Plan",
    "PlanEvent",
    "PlanStep",
    "Reason",
    "RecommendedItem",
    "RecommenderAgent",
    "ReplyEvent",
    "RolledBackEvent",
    "StepEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "ToolRunner",
    "TraceStep",
    "Turn",
    "TurnEvent",
    "Usage",
    "build_runtime",
]
