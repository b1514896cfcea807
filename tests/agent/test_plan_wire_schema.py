"""The plan's wire schema: what a model decoding under it (llama.cpp's grammar) can and cannot write."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from recpilot.agent.agent import DEFAULT_TOOLS
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.plan_schema import plan_schema
from recpilot.agent.prompts import Vocabulary
from recpilot.agent.runtime import AgentRuntime
from recpilot.testing.llm_models import ScriptedModel
from recpilot.testing.local_llm import local_llm_missing

# Arguments each tool takes in a valid call (the required ones, where it has any).
EXAMPLES: dict[str, dict[str, Any]] = {
    "search_catalog": {"attributes": {"genres": ["Comedy"]}, "numeric": {"year": {"min": 1990}}},
    "similar_items": {"items": ["Toy Story"]},
    "rank_candidates": {"model": "popularity", "k": 5},
    "item_details": {"items": ["1"]},
    "remember_preference": {"kind": "like_item", "value": "Heat"},
    "forget_preference": {"value": "genres=Horror"},
    "match_description": {"text": "a heist"},
    "critique_shown": {"kind": "reject", "position": 2},
    "add_feed_rule": {"effect": "exclude", "attribute": "genres", "value": "Horror"},
    "remove_feed_rule": {"rule_id": 1},
}


@pytest.fixture(scope="module")
def vocabulary(runtime: AgentRuntime) -> Vocabulary:
    return Vocabulary.of(runtime.catalog)


@pytest.fixture(scope="module")
def schema(vocabulary: Vocabulary) -> dict[str, Any]:
    wire = plan_schema(DEFAULT_TOOLS, vocabulary)
    jsonschema.Draft202012Validator.check_schema(wire)
    return wire


def plan(constraints: dict[str, Any] | None = None, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"intent": "recommend", "steps": list(steps), "constraints": constraints or {}}


def test_the_brain_sends_the_wire_schema_of_its_catalog(
    runtime: AgentRuntime, vocabulary: Vocabulary
) -> None:
    question = LLMBrain(ScriptedModel([])).plan_question(DEFAULT_TOOLS, runtime.catalog)
    assert question.schema == plan_schema(DEFAULT_TOOLS, vocabulary)
    assert len(json.dumps(question.pasted_schema)) < len(json.dumps(question.schema)) / 2


def test_the_attribute_names_are_the_catalogs(runtime: AgentRuntime, schema: dict[str, Any]) -> None:
    store = runtime.catalog.store
    values = schema["$defs"]["values"]["properties"]
    ranges = schema["$defs"]["ranges"]["properties"]
    assert set(values) == {"genres", "tags"}  # the categorical attributes users ask for (no ids)
    assert set(ranges) == {"year"}
    assert set(values) | set(ranges) <= set(store.attributes())
    # A small vocabulary is an enum of the catalog's own values; a large one (user tags) stays text.
    assert sorted(values["genres"]["items"]["enum"]) == sorted(map(str, store.vocabulary("genres")))
    assert values["tags"]["items"] == {"type": "string"}


@pytest.mark.parametrize("field", ["attributes", "exclude_attributes"])
def test_an_unknown_attribute_or_genre_cannot_pass(schema: dict[str, Any], field: str) -> None:
    jsonschema.validate(plan({field: {"genres": ["Comedy"], "tags": ["heist"]}}), schema)
    for wrong in ({"name": ["Heat"]}, {"1985 ayrıca alındır": ["x"]}, {"genres": ["Comedyy"]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(plan({field: wrong}), schema)
        search = {"tool": "search_catalog", "args": {field: wrong}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(plan(None, search), schema)


def test_an_unknown_numeric_attribute_cannot_pass(schema: dict[str, Any]) -> None:
    jsonschema.validate(plan({"numeric": {"year": {"min": 1990, "max": 1999}}}), schema)
    with pytest.raises(jsonschema.ValidationError, match="rating"):
        jsonschema.validate(plan({"numeric": {"rating": {"min": 4}}}), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(plan({"numeric": {"year": {"from": 1990}}}), schema)


def test_each_tool_takes_its_own_arguments_and_no_other_tools(schema: dict[str, Any]) -> None:
    takes = {spec.name: set(spec.args_model.model_fields) for spec in DEFAULT_TOOLS}
    assert set(EXAMPLES) <= set(takes)
    taken = 0
    for name in takes:
        own = EXAMPLES.get(name, {})
        jsonschema.validate(plan(None, {"tool": name, "args": own}), schema)
        for arguments in EXAMPLES.values():
            for argument, value in arguments.items():
                if argument in takes[name]:
                    continue
                wrong = {"tool": name, "args": {**own, argument: value}}
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate(plan(None, wrong), schema)
                taken += 1
    assert taken > 50
    # The failure of the run this fixes: arguments for a tool that has none.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(plan(None, {"tool": "forget_everything", "args": {"confirm": True}}), schema)


def test_a_tool_without_its_required_arguments_cannot_pass(schema: dict[str, Any]) -> None:
    for step in ({"tool": "similar_items"}, {"tool": "match_description", "args": {}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(plan(None, step), schema)


def test_a_feed_rule_names_a_catalog_attribute(schema: dict[str, Any]) -> None:
    rule = {"tool": "add_feed_rule", "args": {"effect": "exclude", "attribute": "mood", "value": "sad"}}
    with pytest.raises(jsonschema.ValidationError, match="mood"):
        jsonschema.validate(plan(None, rule), schema)


def test_llama_cpps_grammar_of_the_schema_takes_no_key_outside_it(schema: dict[str, Any]) -> None:
    missing = local_llm_missing()
    if missing is not None:
        pytest.skip(f"llama.cpp's schema converter needs the [local-llm] extra: {missing}")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    rules = dict(line.split(" ::= ", 1) for line in json_schema_to_gbnf(json.dumps(schema)).splitlines())
    # A rule for arbitrary keys ("...-additional-kv") or an arbitrary object ("object") would let the
    # model write an attribute or argument name of its own.
    assert not [name for name in rules if "additional" in name]
    assert "object" not in rules
    assert '"\\"genres\\""' in rules["values-genres-kv"]
