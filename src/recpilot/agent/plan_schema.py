"""What the planner is told about its tools and its answer: tool signatures and the plan's wire schema.

Both sit in the planner's stable prefix (see :mod:`recpilot.agent.prompts`), so every token here is
paid on every plan request: the tools are condensed signatures (``name(arg?: type): what it does``),
the schema is inlined and carries only what constrains the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from recpilot.agent.types import Plan
from recpilot.llm.chat import lean_schema
from recpilot.tools.dispatcher import ToolSpec

#: The most steps the wire schema lets a plan have (a critique takes four: critique, search, similar, rank).
MAX_PLAN_STEPS = 6
#: The most values per attribute the wire schema lets a constraint list.
MAX_ATTRIBUTE_VALUES = 8


def plan_schema(tool_names: Sequence[str]) -> dict[str, Any]:
    """The plan's JSON schema as sent: tools limited to ``tool_names``, intent and steps required.

    Servers that decode under the schema (llama.cpp's grammars) then cannot write an unknown tool, a
    small model cannot stop after a bare note, and its lists and note are bounded so an answer that
    follows the grammar does not run into the plan's token budget; validation still uses :class:`Plan` itself.
    """
    schema = lean_schema(Plan)
    schema["$defs"]["PlanStep"]["properties"]["tool"] = {"enum": list(tool_names)}
    constraints = schema["$defs"]["HardConstraints"]["properties"]
    del constraints["exclude_items"]  # the agent adds seen items
    schema["required"] = ["intent", "steps", "constraints"]
    # Bounds for constrained decoding: a small model under a grammar can repeat list entries until the
    # token budget cuts its answer mid-JSON (then a repair round is spent on nothing but length). Each
    # bound costs prompt tokens on every plan request, so only the lists and the note carry one.
    schema["properties"]["note"] = {"type": "string", "maxLength": 120}
    schema["properties"]["steps"]["maxItems"] = MAX_PLAN_STEPS
    for name in ("attributes", "exclude_attributes"):
        constraints[name]["additionalProperties"]["maxItems"] = MAX_ATTRIBUTE_VALUES
    definitions = schema.pop("$defs")
    lean: dict[str, Any] = _without_defaults(_inlined(schema, definitions))
    return lean


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


__all__ = ["plan_schema", "tool_catalog"]
