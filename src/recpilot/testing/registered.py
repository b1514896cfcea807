"""Conformance suites for every registered part, generated from the registry.

A test module calls :func:`conformance_classes` and puts the classes in its namespace; pytest then
runs the contract of each kind (:data:`SUITES`) against every part of that kind in
:data:`recpilot.registry.REGISTRY`, including parts registered by plugins: a new part cannot skip
its contract. :data:`CASES` holds how a built-in part is made small enough for the suites (a config
for the tiny known-answer data, stand-in LLMs, contract flags); a part without a case runs its
contract with its default config.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from recpilot.registry import REGISTRY, Kind, Spec
from recpilot.testing.brains import BrainContract, planning_model
from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.policies import PolicyContract, choosing_model
from recpilot.testing.simulation import DecisionEngineContract, EngineScenario, page_answering_model

#: The contract of each kind of part.
SUITES: dict[Kind, type] = {
    "model": RecommenderContract,
    "policy": PolicyContract,
    "brain": BrainContract,
    "engine": DecisionEngineContract,
}
#: Kinds whose parts are checked elsewhere, and where: they are not skipped, only not generated here.
CHECKED_ELSEWHERE: dict[Kind, str] = {
    "memory": "tests/memory/test_memory_contract.py runs ProfileMemoryContract on every backend",
    "recommender": "tests/simulation runs the adapters of recommenders under simulation",
}


@dataclass(frozen=True)
class Case:
    """How the suites make one registered part.

    Attributes:
        config: The part's config for the suites' tiny data.
        objects: Objects it is built from besides its config (an LLM stand-in), made fresh for each
            part built; engines' get the suite's :class:`EngineScenario`.
        flags: Class attributes of the contract (``personalised = False``, ``invalid_config``...).
        marks: pytest marks (an optional dependency the part needs).
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    objects: Callable[..., dict[str, Any]] | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()


def _llm_engine_objects(scenario: EngineScenario) -> dict[str, Any]:
    from recpilot.simulation.llm_engine import LLMEngineConfig

    low, high = scenario.rating_range
    return {"model": page_answering_model(), "config": LLMEngineConfig(rating_min=low, rating_max=high)}


_NEEDS_TORCH = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="sasrec needs the [torch] extra"
)

#: (kind, registry name) -> how the suites make it.
CASES: dict[tuple[Kind, str], Case] = {
    ("model", "random"): Case({"seed": 0}, flags={"ranks_by_chance": True, "invalid_config": {"seed": -1}}),
    ("model", "pop"): Case(flags={"personalised": False, "invalid_config": {"recent_fraction": 0.0}}),
    ("model", "itemknn"): Case({"neighbors": 10}, flags={"invalid_config": {"neighbors": 0}}),
    ("model", "ease"): Case({"l2": 10.0}, flags={"invalid_config": {"l2": 0.0}}),
    ("model", "ease-lowrank"): Case({"l2": 10.0, "rank": 32}, flags={"invalid_config": {"rank": 0}}),
    ("model", "als"): Case(
        {"factors": 16, "iterations": 10, "regularization": 0.1}, flags={"invalid_config": {"factors": 0}}
    ),
    # One thread: Hogwild updates from several threads race, and the refit check needs identical fits.
    ("model", "bpr"): Case(
        {"factors": 16, "iterations": 100, "learning_rate": 0.05, "num_threads": 1},
        flags={"invalid_config": {"learning_rate": 0.0}},
    ),
    # Small enough to fit the known-answer data in about a second, with enough epochs to learn it.
    ("model", "sasrec"): Case(
        {
            "hidden": 16,
            "max_len": 8,
            "dropout": 0.1,
            "epochs": 40,
            "batch_size": 16,
            "lr": 5e-3,
            "num_threads": 1,
        },
        flags={"invalid_config": {"hidden": 30, "n_heads": 4}},
        marks=(_NEEDS_TORCH,),
    ),
    ("model", "content"): Case(flags={"invalid_config": {"encoder": "word2vec"}}),
    ("brain", "llm"): Case(objects=lambda: {"model": planning_model()}),
    ("policy", "llm"): Case(objects=lambda: {"model": choosing_model()}),
    ("engine", "offline"): Case({"seed": 0}),
    ("engine", "llm"): Case(objects=_llm_engine_objects),
}


def conformance_class(kind: Kind, name: str) -> type:
    """The contract of ``kind`` bound to the registered part ``name`` (a pytest test class).

    Raises:
        LookupError: ``kind`` has no suite.
    """
    suite = SUITES.get(kind)
    if suite is None:
        raise LookupError(f"no conformance suite for parts of kind {kind!r}; add one to SUITES")
    case = CASES.get((kind, name), Case())
    spec = Spec.of(name, dict(case.config))

    def objects(*args: Any) -> dict[str, Any]:
        return case.objects(*args) if case.objects is not None else {}

    attributes: dict[str, Any] = {**case.flags, "pytestmark": list(case.marks), "spec": spec}
    if kind == "model":
        attributes["make_model"] = lambda self, **overrides: REGISTRY.build("model", spec, **overrides)
    elif kind == "policy":
        attributes["make_policy"] = lambda self, **overrides: REGISTRY.build(
            "policy", spec, **{**objects(), **overrides}
        )
        attributes["objects"] = lambda self: objects()
    elif kind == "brain":
        attributes["make_brain"] = lambda self: REGISTRY.build("brain", spec, **objects())
    else:
        attributes["make_engine"] = lambda self, scenario: _fitted(
            REGISTRY.build("engine", spec, **objects(scenario)), scenario
        )
    title = "".join(part.capitalize() for part in f"{kind}-{name}".replace("_", "-").split("-"))
    return type(f"Test{title}Contract", (suite,), attributes)


def _fitted(engine: Any, scenario: EngineScenario) -> Any:
    """The engine fitted on the scenario's data when it learns from data."""
    fit = getattr(engine, "fit", None)
    return fit(scenario.dataset) if callable(fit) else engine


def conformance_classes(kinds: tuple[Kind, ...] = tuple(SUITES)) -> dict[str, type]:
    """Class name -> test class for every registered part of ``kinds``."""
    found: dict[str, type] = {}
    for kind in kinds:
        for name in REGISTRY.names(kind):
            cls = conformance_class(kind, name)
            found[cls.__name__] = cls
    return found


__all__ = ["CASES", "CHECKED_ELSEWHERE", "SUITES", "Case", "conformance_class", "conformance_classes"]
