"""Conversational recommendation harnesses: what drives a policy or an agent through conversations and
scores it.

- :mod:`recpilot.crs.mcr`: the multi-round benchmark (LastFM*, an attribute-answering simulated user)
  that drives an ask-or-recommend policy.
- :mod:`recpilot.crs.freeform`: a simulated user with a hidden target talks to a conversational
  recommender (:mod:`recpilot.simulation.crs_user`).
- :mod:`recpilot.crs.redial` and :mod:`recpilot.crs.redial_eval`: how well a recommender understands
  real ReDial dialogues.

This package sits above the agent (a harness imports what it drives, never the reverse) and is typed
against :class:`~recpilot.crs.protocol.ConversationalRecommender`, so any object with the agent's
``respond``/``arespond`` can be evaluated. The parts that reach the agent or a language model load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recpilot._lazy import lazy_exports
from recpilot.crs.mcr import MCRConfig, MCRData, MCRReport, load_lastfm_star, make_policy, run_mcr
from recpilot.crs.protocol import ConversationalRecommender

if TYPE_CHECKING:
    from recpilot.crs.freeform import (
        FreeformConfig,
        FreeformReport,
        evaluate_freeform,
        run_freeform,
        sample_goals,
    )
    from recpilot.crs.redial import extract_preferences, load_redial
    from recpilot.crs.redial_eval import RedialReport, evaluate_redial

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "FreeformConfig": "recpilot.crs.freeform",
    "FreeformReport": "recpilot.crs.freeform",
    "evaluate_freeform": "recpilot.crs.freeform",
    "run_freeform": "recpilot.crs.freeform",
    "sample_goals": "recpilot.crs.freeform",
    "extract_preferences": "recpilot.crs.redial",
    "load_redial": "recpilot.crs.redial",
    "RedialReport": "recpilot.crs.redial_eval",
    "evaluate_redial": "recpilot.crs.redial_eval",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "ConversationalRecommender",
    "FreeformConfig",
    "FreeformReport",
    "MCRConfig",
    "MCRData",
    "MCRReport",
    "RedialReport",
    "evaluate_freeform",
    "evaluate_redial",
    "extract_preferences",
    "load_lastfm_star",
    "load_redial",
    "make_policy",
    "run_freeform",
    "run_mcr",
    "sample_goals",
]
