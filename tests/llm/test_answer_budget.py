"""A token budget derived from a schema's bounds: any answer the schema admits fits it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from recpilot.agent.llm_brain import critique_wire_schema
from recpilot.llm.chat import CHARS_PER_TOKEN, longest_answer, tokens_for

ITEM = {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 5}]}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "maxLength": 10},
        "ids": {"type": "array", "items": ITEM, "maxItems": 3},
        "kind": {"enum": ["a", "longer"]},
        "ok": {"type": "boolean"},
    },
    "required": ["text"],
    "additionalProperties": False,
}


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_the_bound_is_the_longest_compact_answer_the_schema_admits() -> None:
    longest = {"text": "x" * 10, "ids": [-(10**18)] * 3, "kind": "longer", "ok": False}
    jsonschema.validate(longest, SCHEMA)
    bound = longest_answer(SCHEMA)
    assert bound is not None
    assert len(compact(longest)) <= bound <= len(compact(longest)) + 10
    assert tokens_for(SCHEMA) * CHARS_PER_TOKEN >= bound


def test_refs_and_bounded_free_form_objects_are_followed() -> None:
    schema = {
        "$defs": {"Note": {"type": "string", "maxLength": 20}},
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/Note"},
        "propertyNames": {"maxLength": 4},
        "maxProperties": 2,
    }
    longest = {"abcd": "y" * 20, "efgh": "z" * 20}
    jsonschema.validate(longest, schema)
    bound = longest_answer(schema)
    assert bound is not None
    assert len(compact(longest)) <= bound <= len(compact(longest)) + 2  # a comma per entry is counted


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        {"type": "array", "items": {"type": "string", "maxLength": 3}},
        {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"$ref": "#/$defs/Missing"},
    ],
)
def test_an_unbounded_schema_has_no_budget(schema: dict[str, Any]) -> None:
    assert longest_answer(schema) is None
    with pytest.raises(ValueError, match="maxLength"):
        tokens_for(schema)


def test_the_critic_schema_is_bounded_and_takes_a_verdict() -> None:
    schema = critique_wire_schema()
    assert longest_answer(schema) is not None
    verdict = {
        "ok": False,
        "problems": ["names a film not listed"],
        "reply": "Try Heat.",
        "drop_item_ids": [6],
    }
    jsonschema.validate(verdict, schema)
