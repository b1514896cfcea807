"""User simulation at population scale: personas, engines, environment, runner and fidelity checks."""

from recpilot.simulation.engine import DecisionEngine, templated_interview
from recpilot.simulation.types import (
    EngineStats,
    Interview,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    ShownItem,
    SimAction,
    SimulationConfig,
    SimulationResult,
    UserState,
)

__all__ = [
    "DecisionEngine",
    "EngineStats",
    "Interview",
    "Page",
    "PageDecision",
    "Persona",
    "SessionRecord",
    "ShownItem",
    "SimAction",
    "SimulationConfig",
    "SimulationResult",
    "UserState",
    "templated_interview",
]
