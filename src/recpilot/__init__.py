"""recpilot: a framework for LLM-powered agentic recommender systems.

The foundation layers are importable from here: datasets (:mod:`recpilot.data`), classic recommender
models (:mod:`recpilot.models`), offline evaluation (:mod:`recpilot.evaluation`) and the catalog store
(:mod:`recpilot.store`). Nothing is read or loaded at import time.
"""

from recpilot.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    RecpilotError,
    UnknownIdError,
)
from recpilot.types import ItemList

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ItemList",
    "NotFittedError",
    "RecpilotError",
    "UnknownIdError",
    "__version__",
]
