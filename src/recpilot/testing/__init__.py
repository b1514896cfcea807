"""Test doubles and conformance suites that ship with recpilot.

A new model inherits the whole contract by subclassing :class:`RecommenderContract` in its tests; a
part registered in :mod:`recpilot.registry` gets its kind's contract automatically
(:mod:`recpilot.testing.registered`: :class:`RecommenderContract`,
:class:`~recpilot.testing.policies.PolicyContract`, :class:`~recpilot.testing.brains.BrainContract`,
:class:`~recpilot.testing.simulation.DecisionEngineContract`,
:class:`~recpilot.testing.memory.ProfileMemoryContract`,
:class:`~recpilot.testing.recommenders.RecommenderUnderTestContract`).
"""

from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.datasets import KnownAnswer, known_answer_dataset

__all__ = ["KnownAnswer", "RecommenderContract", "known_answer_dataset"]
