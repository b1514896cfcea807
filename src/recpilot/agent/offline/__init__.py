"""The offline brain: the embedded default, planning from what :mod:`recpilot.understanding` reads in a
message, with the catalog's own vocabulary instead of an LLM."""

from recpilot.agent.offline.brain import OfflineBrain

__all__ = ["OfflineBrain"]
