"""The one registry: every kind of part built from a spec, and one clear message for each bad input."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import recpilot
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.conversation.policy.baselines import MaxEntropyPolicy
from recpilot.conversation.policy.registry import POLICIES, build_policy, policy_class
from recpilot.errors import ConfigError
from recpilot.memory.base import InMemoryProfileMemory
from recpilot.memory.sql import SqlProfileMemory
from recpilot.models.ease import EaseRecommender
from recpilot.models.popularity import PopularityRecommender
from recpilot.models.registry import MODELS, build_model, model_class
from recpilot.registry import KINDS, REGISTRY, Registry, Spec, build, register, resolve
from recpilot.simulation.environment import HttpRecommender, ModelRecommender
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.store.backend import create_engine
from recpilot.testing import known_answer_dataset
from recpilot.testing.brains import planning_model


def test_every_kind_has_built_in_parts_that_resolve() -> None:
    for kind in KINDS:
        names = REGISTRY.names(kind)
        assert names, f"no {kind} registered"
        for name in names:
            assert isinstance(resolve(kind, name), type)


def test_models_and_policies_are_views_of_the_one_registry() -> None:
    assert REGISTRY.entries("model") == MODELS
    assert REGISTRY.entries("policy") == POLICIES
    assert model_class("EASE") is EaseRecommender
    assert policy_class(" Max-Entropy ") is MaxEntropyPolicy
    assert build_model({"class": "ease", "config": {"l2": 5}}).config.l2 == 5
    assert build_policy({"class": "max-entropy", "config": {"k": 3}}, seed=2).config.seed == 2


def test_models_and_policies_are_live_views_that_see_parts_registered_later() -> None:
    class LatePlugin(PopularityRecommender):
        name = "late-plugin"

    assert "late-plugin" not in MODELS
    register("model", "late-plugin", LatePlugin)
    register("policy", "late-policy", "recpilot.conversation.policy.baselines.RandomPolicy")
    try:
        assert MODELS["late-plugin"].endswith("LatePlugin")
        assert list(MODELS)[-1] == "late-plugin"
        assert len(MODELS) == len(REGISTRY.names("model"))
        assert POLICIES["late-policy"] == "recpilot.conversation.policy.baselines.RandomPolicy"
    finally:
        REGISTRY.unregister("model", "late-plugin")
        REGISTRY.unregister("policy", "late-policy")
    assert "late-plugin" not in MODELS
    assert "late-policy" not in POLICIES
    with pytest.raises(TypeError):
        MODELS["x"] = "y"  # type: ignore[index]


def test_one_spec_builds_each_kind() -> None:
    engine = create_engine("sqlite://")
    assert isinstance(build("model", {"class": "ease", "config": {"l2": 7}}), EaseRecommender)
    brain = build("brain", {"class": "offline", "config": {"clarify_policy": {"class": "max-entropy"}}})
    assert isinstance(brain, OfflineBrain)
    assert isinstance(brain.conversation.policy, MaxEntropyPolicy)
    assert isinstance(build("brain", "llm", model=planning_model()), LLMBrain)
    assert isinstance(build("engine", {"class": "offline", "config": {"seed": 3}}), OfflineEngine)
    assert isinstance(build("memory", "in-memory"), InMemoryProfileMemory)
    assert isinstance(build("memory", "sql", engine=engine), SqlProfileMemory)
    train = known_answer_dataset().dataset
    under_test = build("recommender", {"class": "model", "config": {"model": "pop"}}, train=train)
    assert isinstance(under_test, ModelRecommender)
    assert isinstance(under_test.model, PopularityRecommender)
    assert under_test.model.is_fitted
    http = build("recommender", {"class": "http", "config": {"url": "http://127.0.0.1:9/r"}}, train=train)
    assert isinstance(http, HttpRecommender)


def test_a_spec_rebuilds_a_model_by_dotted_path() -> None:
    model = build("model", {"class": "ease", "config": {"l2": 3}})
    rebuilt = build("model", model.spec())
    assert type(rebuilt) is EaseRecommender
    assert rebuilt.config == model.config


def test_config_values_from_files_are_validated_against_the_constructor() -> None:
    brain = build("brain", {"class": "offline", "config": {"description_pool": "12"}})
    assert brain.settings.description_pool == 12  # coerced as pydantic does for a file value


@pytest.mark.parametrize(
    ("kind", "spec", "words"),
    [
        ("model", "nosuch", ["unknown model 'nosuch'", "ease", "dotted class path"]),
        ("policy", "psychic", ["unknown policy 'psychic'", "max-entropy"]),
        ("brain", "oracle", ["unknown brain 'oracle'", "offline, llm"]),
        ("engine", "crystal", ["unknown engine 'crystal'", "offline, llm"]),
        ("memory", "brain", ["unknown memory 'brain'", "in-memory, sql"]),
        ("recommender", "ouija", ["unknown recommender 'ouija'", "model, agent, http"]),
        (
            "model",
            "no_such_pkg.models.Mine",
            ["'no_such_pkg.models.Mine' does not import", "ModuleNotFoundError"],
        ),
        ("model", "recpilot.models.ease.Nope", ["'recpilot.models.ease.Nope'", "has no 'Nope'"]),
        ("model", "recpilot.data.dataset.Dataset", ["not a subclass of recpilot.models.base.Recommender"]),
        ("brain", "recpilot.models.ease.EaseRecommender", ["not a subclass of recpilot.agent.brain.Brain"]),
        ("recommender", "recpilot.models.ease.EaseRecommender", ["lacks arecommend()"]),
        (
            "model",
            {"class": "ease", "config": {"l3": 1}},
            ["model spec", "'ease'", "unknown config field 'l3'", "l2"],
        ),
        (
            "model",
            {"class": "ease", "config": {"l2": "much"}},
            ["'ease'", "config field 'l2'", "valid number"],
        ),
        ("model", {"class": "ease", "config": {"l2": 0}}, ["'ease'", "config field 'l2'", "greater than 0"]),
        ("policy", {"class": "random", "config": {"k": 0}}, ["'random'", "config field 'k'"]),
        ("brain", {"class": "offline", "config": {"pool": 3}}, ["brain spec", "unknown config field 'pool'"]),
        ("brain", {"class": "offline", "config": {"description_pool": "x"}}, ["'description_pool'"]),
        ("brain", "llm", ["brain spec", "'llm'", "config field 'model' is required"]),
        ("engine", {"class": "offline", "config": {"seed": "a"}}, ["engine spec", "config field 'seed'"]),
        ("memory", {"class": "in-memory", "config": {"url": "x"}}, ["unknown config field 'url'"]),
        ("model", {"class": "ease", "cfg": {}}, ["unknown key(s) ['cfg']", "'class' and 'config'"]),
        ("model", {"config": {"l2": 1}}, ["needs a 'class'"]),
        ("model", {"class": "ease", "config": [1]}, ["model spec", "config"]),
        ("model", 42, ["must be a name, a dotted path or a mapping"]),
    ],
)
def test_bad_specs_get_one_message_naming_the_spec_and_the_field(
    kind: Any, spec: Any, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(kind, spec)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_check_validates_without_building_and_knows_supplied_objects() -> None:
    assert REGISTRY.check("memory", "sql", supplied=["engine"]) == Spec.of("sql")
    with pytest.raises(ConfigError, match="'engine' is required"):
        REGISTRY.check("memory", "sql")
    with pytest.raises(ConfigError, match="unknown config field 'l3'"):
        REGISTRY.check("model", {"class": "ease", "config": {"l3": 1}})


def test_register_adds_a_part_and_refuses_clashes(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry({"model": {"ease": "recpilot.models.ease.EaseRecommender"}})
    monkeypatch.setattr("recpilot.registry.REGISTRY", registry)

    class Mine(PopularityRecommender):
        name = "mine"

    register("model", "Mine", Mine)
    assert isinstance(build("model", "mine"), Mine)
    assert registry.entries("model")["mine"].endswith("Mine")
    with pytest.raises(ConfigError, match="taken by"):
        register("model", "ease", Mine)
    register("model", "ease", Mine, replace=True)
    assert resolve("model", "ease") is Mine
    with pytest.raises(ConfigError, match="without dots"):
        register("model", "a.b", Mine)
    with pytest.raises(ConfigError, match="unknown kind of part 'widget'"):
        register("widget", "x", Mine)  # type: ignore[arg-type]


def test_top_level_facade_is_lazy_and_small() -> None:
    code = (
        "import sys, recpilot\n"
        "heavy = [m for m in ('recpilot.agent', 'recpilot.models', 'recpilot.registry', 'sklearn', 'torch')"
        " if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "assert recpilot.build_model is recpilot.models.registry.build_model\n"
        "assert callable(recpilot.build_agent) and recpilot.Spec.__name__ == 'Spec'\n"
    )
    src = Path(recpilot.__file__).parents[1]
    env = {"PYTHONPATH": str(src), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert set(recpilot.__all__) >= {"build", "Spec", "load_dataset", "build_agent", "RecommenderAgent"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = recpilot.nope  # type: ignore[attr-defined]


def test_plugins_register_parts_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    points = {
        "recpilot.model": [
            EntryPoint("Popular", "recpilot.models.popularity:PopularityRecommender", "recpilot.model"),
            EntryPoint("ease", "elsewhere:Ease", "recpilot.model"),  # a built-in name is not taken over
        ]
    }
    monkeypatch.setattr("recpilot.registry.entry_points", lambda group: points.get(group, []))
    registry = Registry({"model": {"ease": "recpilot.models.ease.EaseRecommender"}})
    assert registry.names("model") == ["ease", "popular"]
    assert registry.resolve("model", "popular") is PopularityRecommender
    assert registry.resolve("model", "ease") is EaseRecommender
