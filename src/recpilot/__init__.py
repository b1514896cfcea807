"""recpilot: a framework for LLM-powered agentic recommender systems.

The few names most programs need are importable from here; each loads its module on first use, so
``import recpilot`` stays cheap (nothing is read or loaded at import time)::

    import recpilot

    data = recpilot.load_dataset("ml-latest-small")
    model = recpilot.build("model", {"class": "ease", "config": {"l2": 300}}).fit(data)
    agent = recpilot.build_agent({"brain": "offline"})         # one config builds the whole system

Every part (model, policy, brain, engine, memory, recommender under test) is built from a
:class:`Spec` through one registry (:mod:`recpilot.registry`); :func:`register` adds your own.
"""

from typing import TYPE_CHECKING

from recpilot._lazy import lazy_exports
from recpilot.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    RecpilotError,
    UnknownIdError,
)
from recpilot.types import ItemList

if TYPE_CHECKING:
    from recpilot.agent.agent import RecommenderAgent
    from recpilot.agent.system import SystemSpec, build_agent
    from recpilot.data.loaders import load_dataset
    from recpilot.data.splits import leave_last_out
    from recpilot.evaluation.runner import evaluate
    from recpilot.models.registry import build_model
    from recpilot.registry import Spec, build, register

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "Spec": "recpilot.registry",
    "build": "recpilot.registry",
    "register": "recpilot.registry",
    "build_model": "recpilot.models.registry",
    "load_dataset": "recpilot.data.loaders",
    "leave_last_out": "recpilot.data.splits",
    "evaluate": "recpilot.evaluation.runner",
    "SystemSpec": "recpilot.agent.system",
    "build_agent": "recpilot.agent.system",
    "RecommenderAgent": "recpilot.agent.agent",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

__all__ = [
    "ConfigError",
    "DataError",
    "ItemList",
    "NotFittedError",
    "RecommenderAgent",
    "RecpilotError",
    "Spec",
    "SystemSpec",
    "UnknownIdError",
    "__version__",
    "build",
    "build_agent",
    "build_model",
    "evaluate",
    "leave_last_out",
    "load_dataset",
    "register",
]
