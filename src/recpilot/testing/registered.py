"""Conformance suites for every registered part, generated from the registry.

A test module calls :func:`conformance_classes` and puts the classes in its namespace; pytest then
runs the contract of each kind (:data:`SUITES`) against every part of that kind in
:data:`recpilot.registry.REGISTRY`, including parts registered by plugins: a new part cannot skip
its contract, and every kind has one. :data:`CASES` holds how a built-in part is made small enough for
the suites (a config for the tiny known-answer data, stand-in LLMs, the databases a memory runs on, a
loopback service, contract flags); a part without a case runs its contract with its default config.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from recpilot.data.dataset import Dataset
from recpilot.registry import KINDS, REGISTRY, Kind, Spec
from recpilot.testing.backends import BACKENDS
from recpilot.testing.brains import BrainContract, planning_model
from recpilot.testing.conformance import RecommenderContract
from recpilot.testing.datasets import KnownAnswer
from recpilot.testing.memory import ProfileMemoryContract
from recpilot.testing.policies import PolicyContract, choosing_model
from recpilot.testing.recommenders import RecommenderUnderTestContract, recommender_service
from recpilot.testing.simulation import DecisionEngineContract, EngineScenario, page_answering_model
from recpilot.testing.storage import Storage, storage

#: The contract of each kind of part (every kind of the registry has one).
SUITES: dict[Kind, type] = {
    "model": RecommenderContract,
    "policy": PolicyContract,
    "brain": BrainContract,
    "engine": DecisionEngineContract,
    "memory": ProfileMemoryContract,
    "recommender": RecommenderUnderTestContract,
}


@dataclass(frozen=True)
class Case:
    """How the suites make one registered part.

    Attributes:
        config: The part's config for the suites' tiny data.
        objects: Objects it is built from besides its config (an LLM stand-in), made fresh for each
            part built; engines' get the suite's :class:`EngineScenario`.
            part built; engines' get the suite's :class:`EngineScenario`, memories' the test's
            :class:`~recpilot.testing.storage.Storage` (when ``backends`` names any).
        flags: Class attributes of the contract (``personalised = False``, ``invalid_config``,
            ``persistent = True``...).
        marks: pytest marks (an optional dependency the part needs).
        backends: The databases a memory runs its contract on (``"sqlite"``, ``"postgres"``), once each.
        resources: Objects that live as long as one test (a loopback service), made from the suite's
            data by a context manager; a recommender under test gets them with its config.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    objects: Callable[..., dict[str, Any]] | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()
    backends: tuple[str, ...] = ()
    resources: Callable[[Dataset], AbstractContextManager[dict[str, Any]]] | None = None


def _llm_engine_objects(scenario: EngineScenario) -> dict[str, Any]:
    from recpilot.simulation.llm_engine import LLMEngineConfig

    low, high = scenario.rating_range
    return {"model": page_answering_model(), "config": LLMEngineConfig(rating_min=low, rating_max=high)}


def _sql_memory_objects(found: Storage) -> dict[str, Any]:
    """A SQL memory's objects: a new engine on the test's database (a reopen gets another)."""
    return {"engine": found.engine(), "schema": found.schema}


#: The model the model-backed recommenders under test rank with (fits the known-answer data at once).
_EASE: dict[str, Any] = {"class": "ease", "config": {"l2": 10.0}}


@contextmanager
def _served_model(train: Dataset) -> Iterator[dict[str, Any]]:
    """A fitted model served on loopback, for the HTTP adapter: its ``url``."""
    from recpilot.simulation.environment import ModelRecommender

    with recommender_service(ModelRecommender.for_training(train, model=_EASE)) as url:
        yield {"url": url}


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
    ("memory", "in-memory"): Case(flags={"persistent": False}),
    ("memory", "sql"): Case(
        objects=_sql_memory_objects, flags={"persistent": True}, backends=("sqlite", "postgres")
    ),
    ("recommender", "model"): Case({"model": _EASE}),
    ("recommender", "http"): Case(resources=_served_model),
}


def conformance_class(kind: Kind, name: str) -> type:
    """The contract of ``kind`` bound to the registered part ``name`` (a pytest test class).

    Raises:
        LookupError: ``kind`` has no suite (in :data:`SUITES`) or no way to bind one (in :data:`BINDINGS`).
    """
    suite, bind = SUITES.get(kind), BINDINGS.get(kind)
    if suite is None or bind is None:
        raise LookupError(f"no conformance suite for parts of kind {kind!r}; add one to SUITES and BINDINGS")
    case = CASES.get((kind, name), Case())
    spec = Spec.of(name, dict(case.config))
    attributes: dict[str, Any] = {**case.flags, "pytestmark": list(case.marks), "spec": spec}
    attributes.update(bind(spec, case))
    title = "".join(part.capitalize() for part in f"{kind}-{name}".replace("_", "-").split("-"))
    return type(f"Test{title}Contract", (suite,), attributes)


def _objects(case: Case) -> Callable[..., dict[str, Any]]:
    """The case's objects for one part built (none without ``case.objects``)."""
    return lambda *args: case.objects(*args) if case.objects is not None else {}


def _model_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    return {"make_model": lambda self, **overrides: REGISTRY.build("model", spec, **overrides)}


def _policy_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    objects = _objects(case)
    return {
        "make_policy": lambda self, **overrides: REGISTRY.build("policy", spec, **{**objects(), **overrides}),
        "objects": lambda self: objects(),
    }


def _brain_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    objects = _objects(case)
    return {"make_brain": lambda self: REGISTRY.build("brain", spec, **objects())}


def _engine_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    objects = _objects(case)
    return {
        "make_engine": lambda self, scenario: _fitted(
            REGISTRY.build("engine", spec, **objects(scenario)), scenario
        )
    }


def _memory_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    """A memory's ``memory`` fixture (once per database in ``case.backends``), ``make_memory`` and
    ``reopen`` (a new memory on the same database when the memory persists)."""
    objects = _objects(case)

    def make_memory(self: Any, found: Storage | None) -> Any:
        return REGISTRY.build("memory", spec, **(objects(found) if found is not None else objects()))

    if case.backends:
        params = [p for p in BACKENDS if _backend_name(p) in case.backends]

        @pytest.fixture(params=params)
        def memory(self: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
            with storage(request.param, tmp_path) as found:
                self.storage = found
                yield self.make_memory(found)

    else:

        @pytest.fixture
        def memory(self: Any) -> Any:
            self.storage = None
            return self.make_memory(None)

    def reopen(self: Any, memory: Any) -> Any:
        return self.make_memory(self.storage) if self.persistent else memory

    return {"memory": memory, "make_memory": make_memory, "reopen": reopen}


def _backend_name(param: Any) -> str:
    """The backend a :data:`~recpilot.testing.backends.BACKENDS` entry names (a name or a marked param)."""
    return param if isinstance(param, str) else str(param.values[0])


def _recommender_attributes(spec: Spec, case: Case) -> dict[str, Any]:
    """A recommender's ``make_recommender`` and the fixture holding the case's resources."""

    @pytest.fixture(autouse=True, name="recommender_resources")
    def resources(self: Any, known: KnownAnswer) -> Iterator[None]:
        made = case.resources(known.dataset) if case.resources is not None else nullcontext({})
        with made as objects:
            self.resources = objects
            yield

    def make_recommender(self: Any, train: Dataset) -> Any:
        return REGISTRY.build("recommender", spec, train=train, **self.resources)

    return {"recommender_resources": resources, "make_recommender": make_recommender}


def _fitted(engine: Any, scenario: EngineScenario) -> Any:
    """The engine fitted on the scenario's data when it learns from data."""
    fit = getattr(engine, "fit", None)
    return fit(scenario.dataset) if callable(fit) else engine


#: How each kind's contract is bound to one registered part: the class attributes its suite needs (the
#: ``make_...`` method, fixtures). Every kind of :data:`SUITES` has one.
BINDINGS: dict[Kind, Callable[[Spec, Case], dict[str, Any]]] = {
    "model": _model_attributes,
    "policy": _policy_attributes,
    "brain": _brain_attributes,
    "engine": _engine_attributes,
    "memory": _memory_attributes,
    "recommender": _recommender_attributes,
}


def conformance_classes(kinds: tuple[Kind, ...] = KINDS) -> dict[str, type]:
    """Class name -> test class for every registered part of ``kinds``."""
    found: dict[str, type] = {}
    for kind in kinds:
        for name in REGISTRY.names(kind):
            cls = conformance_class(kind, name)
            found[cls.__name__] = cls
    return found


__all__ = ["BINDINGS", "CASES", "SUITES", "Case", "conformance_class", "conformance_classes"]
