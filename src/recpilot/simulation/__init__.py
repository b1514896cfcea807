"""User simulation: personas, engines, environment, runner and fidelity checks at population scale, and
the CRS user simulator that talks to a conversational recommender (:mod:`.crs_user`).

The typed records and the engine contract load with the package; everything else (the engines, the
runner, the report, the Ray backend, which needs the optional ``ray``) loads on first use, so that
``import recpilot.simulation`` stays cheap for code that only reads results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recpilot._lazy import lazy_exports
from recpilot.simulation.engine import DecisionEngine, templated_interview
from recpilot.simulation.types import (
    EngineStats,
    Instruction,
    InstructionOutcome,
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

if TYPE_CHECKING:
    from recpilot.simulation.assembly import build_recommender, build_simulation, split_for_simulation
    from recpilot.simulation.crs_user import (
        LLMUserSimulator,
        RuleBasedUserSimulator,
        SimulationGoal,
        UserSimulator,
    )
    from recpilot.simulation.environment import (
        AgentRecommender,
        HttpRecommender,
        InstructableRecommender,
        ModelRecommender,
        RecommenderUnderTest,
    )
    from recpilot.simulation.exploration import (
        EpsilonGreedy,
        ExplorationRecommender,
        LinUCB,
        ThompsonSampling,
    )
    from recpilot.simulation.fidelity import FidelityReport, validate
    from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
    from recpilot.simulation.offline_engine import OfflineEngine
    from recpilot.simulation.persona import SimulatedUser, build_personas, sample_population
    from recpilot.simulation.ray_backend import run_on_ray
    from recpilot.simulation.report import write_report
    from recpilot.simulation.rounds import run_rounds
    from recpilot.simulation.runner import SimulationRun, SimulationRunner, SimulationStoppedError

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "build_recommender": "recpilot.simulation.assembly",
    "build_simulation": "recpilot.simulation.assembly",
    "split_for_simulation": "recpilot.simulation.assembly",
    "LLMUserSimulator": "recpilot.simulation.crs_user",
    "RuleBasedUserSimulator": "recpilot.simulation.crs_user",
    "SimulationGoal": "recpilot.simulation.crs_user",
    "UserSimulator": "recpilot.simulation.crs_user",
    "AgentRecommender": "recpilot.simulation.environment",
    "HttpRecommender": "recpilot.simulation.environment",
    "InstructableRecommender": "recpilot.simulation.environment",
    "ModelRecommender": "recpilot.simulation.environment",
    "RecommenderUnderTest": "recpilot.simulation.environment",
    "EpsilonGreedy": "recpilot.simulation.exploration",
    "ExplorationRecommender": "recpilot.simulation.exploration",
    "LinUCB": "recpilot.simulation.exploration",
    "ThompsonSampling": "recpilot.simulation.exploration",
    "FidelityReport": "recpilot.simulation.fidelity",
    "validate": "recpilot.simulation.fidelity",
    "LLMDecisionEngine": "recpilot.simulation.llm_engine",
    "LLMEngineConfig": "recpilot.simulation.llm_engine",
    "OfflineEngine": "recpilot.simulation.offline_engine",
    "SimulatedUser": "recpilot.simulation.persona",
    "build_personas": "recpilot.simulation.persona",
    "sample_population": "recpilot.simulation.persona",
    "run_on_ray": "recpilot.simulation.ray_backend",
    "write_report": "recpilot.simulation.report",
    "run_rounds": "recpilot.simulation.rounds",
    "SimulationRun": "recpilot.simulation.runner",
    "SimulationRunner": "recpilot.simulation.runner",
    "SimulationStoppedError": "recpilot.simulation.runner",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "AgentRecommender",
    "DecisionEngine",
    "EngineStats",
    "EpsilonGreedy",
    "ExplorationRecommender",
    "FidelityReport",
    "HttpRecommender",
    "InstructableRecommender",
    "Instruction",
    "InstructionOutcome",
    "Interview",
    "LLMDecisionEngine",
    "LLMEngineConfig",
    "LLMUserSimulator",
    "LinUCB",
    "ModelRecommender",
    "OfflineEngine",
    "Page",
    "PageDecision",
    "Persona",
    "RecommenderUnderTest",
    "RuleBasedUserSimulator",
    "SessionRecord",
    "ShownItem",
    "SimAction",
    "SimulatedUser",
    "SimulationConfig",
    "SimulationGoal",
    "SimulationResult",
    "SimulationRun",
    "SimulationRunner",
    "SimulationStoppedError",
    "ThompsonSampling",
    "UserSimulator",
    "UserState",
    "build_personas",
    "build_recommender",
    "build_simulation",
    "run_on_ray",
    "run_rounds",
    "sample_population",
    "split_for_simulation",
    "templated_interview",
    "validate",
    "write_report",
]
