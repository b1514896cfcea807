"""The multi-round conversational recommendation (MCR) benchmark: LastFM*, simulated user, metrics."""

from recpilot.crs.mcr.data import MCRData, load_lastfm_star
from recpilot.crs.mcr.harness import (
    ConversationOutcome,
    MCRConfig,
    MCRReport,
    build_prior,
    converse,
    make_policy,
    run_mcr,
    select_pairs,
)
from recpilot.crs.mcr.metrics import average_turns, hdcg, hdcg_per_conversation, success_rate
from recpilot.crs.mcr.prior import CollaborativePrior, Prior, RandomPrior
from recpilot.crs.mcr.settings import ENVIRONMENTS, CandidateSet, Environment
from recpilot.crs.mcr.user import SimulatedUser

__all__ = [
    "ENVIRONMENTS",
    "CandidateSet",
    "CollaborativePrior",
    "ConversationOutcome",
    "Environment",
    "MCRConfig",
    "MCRData",
    "MCRReport",
    "Prior",
    "RandomPrior",
    "SimulatedUser",
    "average_turns",
    "build_prior",
    "converse",
    "hdcg",
    "hdcg_per_conversation",
    "load_lastfm_star",
    "make_policy",
    "run_mcr",
    "select_pairs",
    "success_rate",
]
