"""Test doubles and conformance suites that ship with recpilot.

A new model inherits the whole contract by subclassing :class:`RecommenderContract` in its tests.
"""

from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.datasets import KnownAnswer, known_answer_dataset

__all__ = ["KnownAnswer", "RecommenderContract", "known_answer_dataset"]
