"""The planner's prompt: what it must carry, in few enough tokens for a small local model."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from recpilot.agent.acceptance import ACCEPTANCE_CASES, NEW
from recpilot.agent.agent import DEFAULT_TOOLS, RecommenderAgent
from recpilot.agent.llm_brain import (
    ITEM_ID_CHARS,
    NOTE_CHARS,
    NOTES,
    REPLY_CHARS,
    REPLY_ITEMS,
    LLMBrain,
    reply_wire_schema,
)
from recpilot.agent.plan_schema import plan_prompt_schema, tool_catalog
from recpilot.agent.prompts import PLAN_INSTRUCTIONS, ComposedReply, shown_list
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import HardConstraints, NumericRange, Plan, PlanStep
from recpilot.llm.chat import CHARS_PER_TOKEN, longest_answer, tokens_for
from recpilot.llm.modes import schema_instructions
from recpilot.testing.llm_models import ScriptedCall, ScriptedModel
from recpilot.testing.local_llm import local_llm_missing, smollm2_token_counter

#: The plan prompt's budget on ml-latest-small (issue 10): instructions, tools, schema and message.
PLAN_PROMPT_TOKENS = 1500
TOOL_NAMES = [spec.name for spec in DEFAULT_TOOLS]


def test_the_pasted_schema_is_inlined_and_still_takes_every_plan() -> None:
    schema = plan_prompt_schema(TOOL_NAMES)
    text = json.dumps(schema)
    assert "$ref" not in text
    assert "$defs" not in text
    assert '{"type": "null"}' not in text  # optional fields are left out, not sent as null
    constraints = HardConstraints(
        attributes={"genres": ["Comedy"]}, numeric={"year": NumericRange(min=1990, max=1999)}
    )
    plan = Plan(
        intent="recommend",
        steps=[PlanStep(tool="search_catalog", args={"keywords": "heist"}), PlanStep(tool="rank_candidates")],
        constraints=constraints,
        note="90s comedies",
    )
    jsonschema.validate(plan.model_dump(exclude_none=True), schema)
    wrong = plan.model_dump(exclude_none=True) | {"steps": [{"tool": "teleport", "args": {}}]}
    with pytest.raises(jsonschema.ValidationError, match="teleport"):
        jsonschema.validate(wrong, schema)  # constrained decoding cannot write an unknown tool


def _unbounded_lists(node: Any, path: str = "plan") -> list[str]:
    """The lists of a schema a grammar-following answer could grow without end."""
    if not isinstance(node, dict):
        return []
    found = [path] if node.get("type") == "array" and "maxItems" not in node else []
    for name, child in (node.get("properties") or {}).items():
        found += _unbounded_lists(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        found += _unbounded_lists(node.get(key), f"{path}[]")
    return found


def test_the_pasted_schema_bounds_what_a_small_model_could_repeat_to_the_token_limit() -> None:
    # Under llama.cpp's grammar SmolLM2 wrote plans until max_tokens cut the JSON ("EOF while parsing
    # a value"): a repair round spent on length alone, or two calls and then the fallback.
    schema = plan_prompt_schema(TOOL_NAMES)
    assert _unbounded_lists(schema) == []
    assert schema["properties"]["note"]["maxLength"] <= 120
    too_many = Plan(steps=[PlanStep(tool="rank_candidates")] * 7).model_dump(exclude_none=True)
    with pytest.raises(jsonschema.ValidationError, match="too long"):
        jsonschema.validate(too_many, schema)


def test_the_reply_schema_bounds_its_text_and_lists() -> None:
    schema = reply_wire_schema()
    assert _unbounded_lists(schema) == []
    assert schema["properties"]["reply"]["maxLength"] <= 600
    assert schema["properties"]["notes"]["items"]["properties"]["note"]["maxLength"] <= 100
    answer = {"reply": "Try Heat.", "item_ids": [6, "7"], "notes": [{"id": 6, "note": "a heist"}]}
    jsonschema.validate(answer, schema)
    assert ComposedReply.model_validate(answer).notes == {"6": "a heist"}
    six_notes = [{"id": i, "note": "fits"} for i in range(6)]
    with pytest.raises(jsonschema.ValidationError, match="too long"):
        jsonschema.validate({"reply": "Try Heat.", "notes": six_notes}, schema)


def test_llama_cpp_bounds_every_part_of_the_reply_in_its_grammar() -> None:
    # llama.cpp's converter ignores maxProperties and propertyNames: notes keyed by id in an object
    # became "any number of notes with keys of any length" in the grammar, so they go as a list.
    if (missing := local_llm_missing()) is not None:
        pytest.skip(f"llama.cpp's schema converter needs the [local-llm] extra: {missing}")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(reply_wire_schema()))
    assert "*" not in grammar.replace("char*", "")  # no unbounded repetition but the unused string rule
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    assert not [name for name, body in rules.items() if "string" in body.split()]  # no free-length text


def longest_reply() -> dict[str, Any]:
    """The longest reply the wire schema admits, written in plain English words."""
    words = "this quiet film follows a young woman through a small town and it fits your taste well "
    text = (words * 20)[: REPLY_CHARS - 1].rstrip() + "."
    ids: list[int | str] = [str(10**ITEM_ID_CHARS - 1 - i) for i in range(REPLY_ITEMS)]
    note = (words * 3)[: NOTE_CHARS - 1].rstrip() + "."
    return {"reply": text, "item_ids": ids, "notes": [{"id": i, "note": note} for i in ids[:NOTES]]}


def test_the_compose_budget_holds_the_longest_reply_the_schema_admits() -> None:
    # SmolLM2 under the grammar wrote replies the 300-token budget cut mid-JSON (2 of 12 turns, each a
    # repair call): 600 characters of reply plus 10 notes of 100 could not fit 300 tokens.
    schema = reply_wire_schema()
    reply = longest_reply()
    jsonschema.validate(reply, schema)
    text = json.dumps(reply, separators=(",", ":"))
    assert len(text) <= longest_answer(schema)  # type: ignore[operator]
    question = LLMBrain(ScriptedModel([])).compose_question
    assert question.max_tokens == tokens_for(schema) >= len(text) / CHARS_PER_TOKEN
    count = smollm2_tokens()
    assert count(text) <= question.max_tokens  # by the real model's own tokenizer


def test_the_tool_list_gives_enum_values_as_names() -> None:
    tools = tool_catalog(DEFAULT_TOOLS)
    assert "remember_preference(kind: like_item|dislike_item|like_attribute|" in tools
    assert "|other|lower|higher, position?: integer" in tools  # critique_shown
    assert '"' not in tools


def test_a_tool_the_instructions_explain_is_not_described_twice() -> None:
    tools = tool_catalog(DEFAULT_TOOLS, explained=PLAN_INSTRUCTIONS).splitlines()
    search = next(line for line in tools if line.startswith("- search_catalog("))
    details = next(line for line in tools if line.startswith("- item_details("))
    remember = next(line for line in tools if line.startswith("- remember_preference("))
    assert search.endswith("keywords?: string)")  # "search_catalog narrows it by hard constraints"
    assert details == "- item_details(items: [string])"  # its name says what it does
    assert remember.endswith("): Remember a preference in the user's long-term profile")


def test_the_shown_list_numbers_items_by_short_title_and_id(runtime: AgentRuntime) -> None:
    catalog = runtime.catalog
    assert catalog.title("29") == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert catalog.title("32") == "Twelve Monkeys (a.k.a. 12 Monkeys) (1995)"
    listed = shown_list(catalog, ["1", "no-such-item", "29", "32"])
    assert listed.splitlines() == [
        "1. Toy Story (1995) #1",
        "2. City of Lost Children, The (1995) #29",  # the original title costs tokens, says nothing new
        "3. Twelve Monkeys (a.k.a. 12 Monkeys) (1995) #32",  # the name users may use stays
    ]


def smollm2_tokens() -> Callable[[str], int]:
    """Tokens by SmolLM2's tokenizer, counted as llama.cpp's server counts them (BOS included)."""
    missing = local_llm_missing()
    if missing is not None:
        pytest.skip(f"counting SmolLM2 tokens needs the [local-llm] extra: {missing}")
    return smollm2_token_counter()


@pytest.mark.parametrize("case_id", ["more", "switch-genre", "remembered-dislike"])
def test_the_largest_plan_prompts_of_the_acceptance_set_fit_the_budget(
    runtime: AgentRuntime, case_id: str
) -> None:
    count = smollm2_tokens()
    prompts: list[str] = []

    def planner(messages: list[ModelMessage], info: AgentInfo) -> Any:
        call = ScriptedCall(messages, info)
        if call.system.startswith("You plan"):
            prompts.append(call.user_prompt)
            return Plan()
        return {"reply": "ok"}

    brain = LLMBrain(ScriptedModel([planner] * 20))
    agent = RecommenderAgent(runtime, brain=brain)
    case = next(c for c in ACCEPTANCE_CASES if c.id == case_id)
    user = f"plan-prompt-{case.id}" if case.user == NEW else case.user
    session = f"plan-prompt-{case.id}-{time.time_ns()}"
    for message in (*case.before, case.message):
        agent.respond(user, message, session_id=session)
    assert "Shown last" in prompts[-1] or not case.before
    # The text the model reads in each mode, as benchmarks/llm_local.py --prompts measures it: the tool
    # mode's schema goes to the grammar only (SmolLM2's chat template renders no tools); json_object and
    # prompted paste the shorter prompt schema into the instructions.
    question = brain.plan_question(DEFAULT_TOOLS, runtime.catalog)
    for mode in ("tool", "json_object", "prompted"):
        system = question.instructions + schema_instructions(mode, question.pasted_schema)
        tokens = count(system + prompts[-1])
        assert tokens < PLAN_PROMPT_TOKENS, f"{case_id} in {mode} mode: {tokens} tokens"
