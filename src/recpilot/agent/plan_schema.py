"""What the planner is told about its tools and its answer: tool signatures and the plan's wire schema.

The tools sit in the planner's stable prefix (see :mod:`recpilot.agent.prompts`) as condensed
signatures (``name(arg?: type): what it does``), so every token there is paid on every plan request.
The wire schema is sent as the output tool's parameters or the response format's schema, which
servers like llama.cpp turn into a decoding grammar: it names the catalog's attributes and each tool's
own arguments, so a model decoding under it cannot write an unknown attribute or another tool's
arguments. Modes that paste a schema into the prompt get a shorter one (:func:`plan_prompt_schema`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from recpilot.agent.prompts import Vocabulary
from recpilot.agent.types import Plan
from recpilot.llm.chat import lean_schema
from recpilot.tools.dispatcher import ToolSpec

#: The most steps the wire schema lets a plan have (a critique takes four: critique, search, similar, rank).
MAX_PLAN_STEPS = 6
#: The most values per attribute the wire schema lets a constraint list.
MAX_ATTRIBUTE_VALUES = 8
#: Categorical vocabularies up to this size are sent as an enum of their values (genres; not user tags).
MAX_ENUM_VALUES = 50
#: The longest free text the wire schema lets a plan write (keywords, a preference's value, a rule's
#: wording, a description): unbounded, a small model under a grammar can write a string on until the
#: token budget cuts the plan mid-JSON ("EOF while parsing a string").
MAX_TEXT_CHARS = 80
#: The longest item reference (an id or a title: catalog titles run to about 100 characters).
MAX_ITEM_CHARS = 100
#: The longest attribute name or attribute value (a user tag) the wire schema lets a plan write.
MAX_VALUE_CHARS = 40

#: A catalog value that may be written into the grammar as an enum member: letters, digits, spaces and
#: ``-'&.,()/+`` only, at most :data:`MAX_VALUE_CHARS` characters.
_PLAIN_VALUE = re.compile(rf"[\w(][\w '&.,()/+-]{{0,{MAX_VALUE_CHARS - 1}}}")

# Tool arguments whose strings are bounded otherwise than as free text.
_STRING_LIMITS = {"items": MAX_ITEM_CHARS, "attribute": MAX_VALUE_CHARS}

# Tool arguments that take constraints in the plan's own shape, and the definition each is sent as.
_CONSTRAINT_ARGUMENTS = {"attributes": "values", "exclude_attributes": "values", "numeric": "ranges"}
# Tool arguments that name one catalog attribute.
_ATTRIBUTE_NAME_ARGUMENTS = {("add_feed_rule", "attribute"), ("remove_feed_rule", "attribute")}


def plan_prompt_schema(tool_names: Sequence[str]) -> dict[str, Any]:
    """The plan's schema as pasted into the instructions (json_object and prompted modes).

    The tools' arguments are in the tool list and the attributes in the vocabulary of the message, so
    the pasted schema only shapes the answer; the wire schema (:func:`plan_schema`) constrains it.
    """
    schema = lean_schema(Plan)
    schema["$defs"]["PlanStep"]["properties"]["tool"] = {"enum": list(tool_names)}
    constraints = schema["$defs"]["HardConstraints"]["properties"]
    del constraints["exclude_items"]  # the agent adds seen items
    schema["required"] = ["intent", "steps", "constraints"]
    # Bounds for constrained decoding: a small model under a grammar can repeat list entries until the
    # token budget cuts its answer mid-JSON (then a repair round is spent on nothing but length).
    schema["properties"]["note"] = {"type": "string", "maxLength": 120}
    schema["properties"]["steps"]["maxItems"] = MAX_PLAN_STEPS
    for name in ("attributes", "exclude_attributes"):
        constraints[name]["additionalProperties"]["maxItems"] = MAX_ATTRIBUTE_VALUES
    definitions = schema.pop("$defs")
    lean: dict[str, Any] = _without_defaults(_inlined(schema, definitions))
    return lean


def plan_schema(specs: Sequence[ToolSpec], vocabulary: Vocabulary) -> dict[str, Any]:
    """The plan's JSON schema as sent: each tool with its own arguments, the catalog's attributes only.

    A step is one of the tools, each alternative keyed by the tool's name (``"tool": {"const": ...}``)
    with that tool's arguments, so a grammar cannot write an unknown tool, an argument another tool
    takes, or arguments for a tool that has none. Constraints (in the plan and in ``search_catalog``)
    name only the attributes of ``vocabulary``: categorical ones as lists (of the values themselves when
    there are at most :data:`MAX_ENUM_VALUES`), numeric ones as ranges. Tuning arguments the tool list
    leaves out are left out here too (their defaults apply). Lists and the note are bounded so that an
    answer following the grammar does not run into the plan's token budget. Validation still uses
    :class:`Plan`, the dispatcher and the catalog: this only keeps a model from writing what they reject.
    """
    prompt = plan_prompt_schema([spec.name for spec in specs])
    constraints = {
        **{name: {"$ref": f"#/$defs/{kind}"} for name, kind in _CONSTRAINT_ARGUMENTS.items()},
        "keywords": {"type": "string", "maxLength": MAX_TEXT_CHARS},
    }
    properties = prompt["properties"]
    steps = [_step_schema(spec, vocabulary) for spec in specs]
    return {
        "$defs": {"values": _values_schema(vocabulary), "ranges": _ranges_schema(vocabulary)},
        "type": "object",
        "properties": {
            "intent": properties["intent"],
            "steps": {"type": "array", "items": {"anyOf": steps}, "maxItems": MAX_PLAN_STEPS},
            "constraints": _closed(constraints),
            "note": properties["note"],
        },
        "required": prompt["required"],
        "additionalProperties": False,
    }


def _closed(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    # "No other keys" stated: JSON Schema allows them by default (llama.cpp's grammars do not).
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _enumerable(values: Sequence[object]) -> bool:
    """Whether ``values`` may go into the grammar as an enum: few, and each a plain short name.

    Catalog values are content from outside: one with quotes, backslashes, markup or an instruction's
    colon is not written into the grammar (llama-cpp-python's converter mis-escapes such a value and
    the server's grammar parser then fails, which crashed a real server), and the attribute is sent as
    bounded text instead; validation checks the values against the catalog either way.
    """
    return len(values) <= MAX_ENUM_VALUES and all(
        isinstance(v, str) and _PLAIN_VALUE.fullmatch(v) is not None for v in values
    )


def _values_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """Categorical attribute -> values, for the catalog's categorical attributes only."""
    properties = {}
    for name, values in vocabulary.values.items():
        item = {"enum": values} if _enumerable(values) else {"type": "string", "maxLength": MAX_VALUE_CHARS}
        properties[name] = {"type": "array", "items": item, "maxItems": MAX_ATTRIBUTE_VALUES}
    return _closed(properties)


def _ranges_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """Numeric attribute -> inclusive range, for the catalog's numeric attributes only."""
    bounds = _closed({"min": {"type": "number"}, "max": {"type": "number"}})
    return _closed(dict.fromkeys(vocabulary.ranges, bounds))


def _step_schema(spec: ToolSpec, vocabulary: Vocabulary) -> dict[str, Any]:
    """One plan step calling ``spec``: its name as a constant and its own arguments."""
    schema = spec.json_schema()
    definitions = schema.get("$defs", {})
    required = list(schema.get("required", []))
    arguments: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if name in _TUNING_ARGUMENTS and name not in required:
            continue
        if name in _CONSTRAINT_ARGUMENTS:
            arguments[name] = {"$ref": f"#/$defs/{_CONSTRAINT_ARGUMENTS[name]}"}
        elif (spec.name, name) in _ATTRIBUTE_NAME_ARGUMENTS:
            arguments[name] = {"enum": [*vocabulary.values, *vocabulary.ranges]}
        else:
            plain = _bare(_without_defaults(_inlined(prop, definitions)))
            arguments[name] = _bounded(plain, _STRING_LIMITS.get(name, MAX_TEXT_CHARS))
    step = {"tool": {"const": spec.name}, "args": _closed(arguments, required)}
    return _closed(step, ["tool", "args"] if required else ["tool"])


def _bounded(node: Any, limit: int) -> Any:
    """``node`` with every string it takes bounded to ``limit`` characters (an enum or a constant is
    bounded already; a bound it has is kept)."""
    if isinstance(node, dict):
        bounded = {k: _bounded(v, limit) if k != "enum" else v for k, v in node.items()}
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            bounded.setdefault("maxLength", limit)
        return bounded
    if isinstance(node, list):
        return [_bounded(v, limit) for v in node]
    return node


def _bare(node: Any, names: bool = False) -> Any:
    # Descriptions are in the tool list already (or left out on purpose); titles say nothing. The keys
    # of "properties" are names, kept whatever they are.
    if isinstance(node, dict):
        return {
            k: _bare(v, not names and k == "properties")
            for k, v in node.items()
            if names or k not in ("description", "title")
        }
    if isinstance(node, list):
        return [_bare(v) for v in node]
    return node


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    # Each definition is used once: in place it costs fewer tokens than "$defs" and "$ref" paths.
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {k: _inlined(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, definitions) for v in node]
    return node


def _without_defaults(node: Any) -> Any:
    # Defaults, "no other keys", "any other keys", "or null" on optional fields and the type of an
    # enum say nothing a model needs: validation applies them anyway, a model leaves an optional field
    # out, and an enum's values carry their type.
    if isinstance(node, dict):
        options = node.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            kept = next(option for option in options if option != {"type": "null"})
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **kept}
        return {
            k: _without_defaults(v)
            for k, v in node.items()
            if k != "default"
            and not (k == "additionalProperties" and isinstance(v, bool))
            and not (k == "type" and "enum" in node)
        }
    if isinstance(node, list):
        return [_without_defaults(v) for v in node]
    return node


# Tools whose name and arguments already say what they do: a description would only spend tokens.
_SELF_EXPLAINED = frozenset(
    {"user_profile", "list_feed_rules", "forget_everything", "exclude_seen", "item_details"}
)


def tool_catalog(specs: Iterable[ToolSpec], explained: str = "") -> str:
    """Each tool as ``name(arg: type, ...): description`` (the arguments' JSON schema, condensed).

    Args:
        specs: The tools.
        explained: The instructions the list goes into: a tool they name gets no description of its
            own (they already say what it does).
    """
    named = set(re.findall(r"\w+", explained)) | _SELF_EXPLAINED
    return "\n".join(
        f"- {spec.name}({_signature(spec.json_schema())})"
        + ("" if spec.name in named else f": {_first_sentence(spec.description)}")
        for spec in specs
    )


def _first_sentence(text: str, limit: int = 70) -> str:
    head = re.split(r"(?<=[.;])\s|\s\(|;\s|,\s", text.strip(), maxsplit=1)[0].rstrip(".;")
    return head if len(head) <= limit else head[: limit - 1].rsplit(" ", 1)[0] + "…"


# Optional arguments that tune a tool's internals: the planner leaves them to their defaults, so its
# prompt does not spend tokens on them (a plan that sets one is still accepted).
_TUNING_ARGUMENTS = frozenset({"content_weight", "similarity_weight", "min_keep", "floor", "label", "limit"})


def _signature(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    parts = []
    for name, prop in (schema.get("properties") or {}).items():
        if name in _TUNING_ARGUMENTS and name not in required:
            continue
        optional = "" if name in required else "?"
        parts.append(f"{name}{optional}: {_type_name(prop, schema.get('$defs', {}))}")
    return ", ".join(parts)


def _type_name(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        inner = target.get("properties") or {}
        return "{" + ", ".join(f"{k}: {_type_name(v, defs)}" for k, v in inner.items()) + "}"
    if "anyOf" in prop:
        kinds = [_type_name(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " | ".join(dict.fromkeys(kinds))
    if "enum" in prop:  # names as they are (quotes would cost two tokens a value)
        return "|".join(v if isinstance(v, str) else json.dumps(v) for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"[{_type_name(prop.get('items', {}), defs)}]"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"{{str: {_type_name(prop['additionalProperties'], defs)}}}"
    return str(kind)


__all__ = ["plan_prompt_schema", "plan_schema", "tool_catalog"]
