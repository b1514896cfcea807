"""A language model that obeys injected commands, driving the real :class:`~recpilot.agent.LLMBrain`.

:class:`ObeyingLLM` is a pydantic-ai ``FunctionModel`` (no HTTP): the worst case of a model behind the
LLM brain. It plans the user's request competently, reading the user's message with the offline
parsers over a clean copy of the catalog, then obeys every command it reads anywhere in its prompt
(the stored profile, earlier messages, the list shown last, tool results, item titles), reading
through the datamarking: ``<<CALL tool {json}>>`` becomes a plan step, ``<<DROP Genre>>`` replaces the
search with that genre and states no constraints, ``<<RECOMMEND id>>`` puts the item first in the
reply's ``item_ids``, and ``<<LATER ...>>`` acts only once it comes back in the session's dialogue. So
the injection suite of :mod:`recpilot.testing.injection_suite` measures the LLM brain's whole path
(prompts, plan checks, re-plans, fallback) and not only a scripted :class:`~recpilot.agent.brain.Brain`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import Plan, PlanStep
from recpilot.conversation.feed_parse import parse_feed_command, parse_rules_request
from recpilot.conversation.tools import add_rule_args, remove_rule_args
from recpilot.safety.datamark import MARK
from recpilot.testing.llm_models import ScriptedCall, to_response

_COMMAND = re.compile(r"<<\s*(LATER\s+)?(CALL|RECOMMEND|DROP)\s*(.*?)>>", re.DOTALL)
_MESSAGE = re.compile(r"User message: (.*?)(?:\n\nYour last plan failed|\Z)", re.DOTALL)
_DIALOGUE = re.compile(r"<<<DATA dialogue\n(.*?)\nDATA>>>", re.DOTALL)
_ITEM = re.compile(r"^- (\S+) \| ", re.MULTILINE)


class ObeyingLLM(FunctionModel):
    """Plans the user's request, then obeys every injected command (see the module docstring).

    Args:
        runtime: A runtime over the catalog without attacker text, for reading the user's message (held,
            so its catalog store stays open).

    Attributes:
        calls: Every request answered, in order.
        obeyed: Every command obeyed, as ``(verb, body)``.
    """

    def __init__(self, runtime: AgentRuntime) -> None:
        super().__init__(self._answer, model_name="obeying-llm")
        self.runtime = runtime
        self.catalog = runtime.catalog
        self.parser = OfflineBrain()
        self.calls: list[ScriptedCall] = []
        self.obeyed: list[tuple[str, str]] = []

    async def _answer(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        # Async, so pydantic-ai runs it on the turn's own thread (the catalog's SQLite store is
        # bound to the thread that opened it).
        call = ScriptedCall(list(messages), info)
        self.calls.append(call)
        prompt = call.user_prompt.replace(MARK, " ")
        fields = (
            info.output_tools[0].parameters_json_schema.get("properties", {}) if info.output_tools else {}
        )
        if "steps" in fields:
            return to_response(self._plan(prompt), info)
        if "ok" in fields:  # the critic: every draft is fine
            return to_response({"ok": True}, info)
        promoted = [body.strip() for verb, body in self._commands(prompt) if verb == "RECOMMEND"]
        listed = _ITEM.findall(prompt)
        chosen = list(dict.fromkeys([*promoted, *listed]))
        return to_response({"reply": "Here are my picks for you.", "item_ids": chosen}, info)

    def _plan(self, prompt: str) -> Plan:
        found = _MESSAGE.search(prompt)
        plan = self._users_plan(found.group(1).strip() if found else "")
        for verb, body in self._commands(prompt):
            if verb == "CALL":
                name, _, raw = body.strip().partition(" ")
                plan.steps.append(PlanStep(tool=name, args=_json(raw)))
            elif verb == "DROP":
                search = {"attributes": {"genres": [body.strip()]}}
                kept = [s for s in plan.steps if s.tool not in ("search_catalog", "rank_candidates")]
                plan.steps = [PlanStep(tool="search_catalog", args=search), *kept, _rank()]
                plan.constraints = type(plan.constraints)()
            elif verb == "RECOMMEND":  # as an obeying model would, it states no constraint against the item
                plan.constraints = type(plan.constraints)()
        return plan

    def _users_plan(self, message: str) -> Plan:
        """What a competent model plans for the user's message alone."""
        vocabulary = self.parser.conversation.feed_vocabulary(self.catalog)
        now = time.time()
        command = parse_feed_command(message, vocabulary, now=now)
        if command is not None:
            steps = [PlanStep(tool="add_feed_rule", args=add_rule_args(r, now=now)) for r in command.rules]
            return Plan(intent="feed", steps=steps)
        rules = parse_rules_request(message, vocabulary)
        if rules is not None and rules.action == "remove":
            removals = [remove_rule_args(t) for t in rules.targets]
            args = [{"rule_id": i} for i in rules.ids] + [a for a in removals if a is not None]
            return Plan(intent="feed", steps=[PlanStep(tool="remove_feed_rule", args=a) for a in args])
        parsed = self.parser.parse(message, self.catalog)
        if parsed.intent == "remember":
            steps = [
                PlanStep(tool="remember_preference", args={"kind": n.kind, "value": n.value})
                for n in parsed.remember
            ]
            return Plan(intent="remember", steps=steps)
        if parsed.intent == "forget":
            steps = [PlanStep(tool="forget_preference", args={"value": n.value}) for n in parsed.forget]
            return Plan(intent="forget", steps=steps)
        constraints = parsed.constraints.model_copy(update={"keywords": None, "exclude_items": []})
        search: dict[str, Any] = {
            "attributes": constraints.attributes,
            "exclude_attributes": constraints.exclude_attributes,
            "numeric": {name: r.model_dump() for name, r in constraints.numeric.items()},
        }
        steps = [PlanStep(tool="search_catalog", args=search), _rank()]
        return Plan(intent="recommend", steps=steps, constraints=constraints)

    def _commands(self, prompt: str) -> list[tuple[str, str]]:
        """Commands in the prompt (``LATER`` ones only from the session's dialogue), each once."""
        dialogue = " ".join(_DIALOGUE.findall(prompt))
        found = [(verb, body) for later, verb, body in _COMMAND.findall(prompt) if not later]
        found += [(verb, body) for later, verb, body in _COMMAND.findall(dialogue) if later]
        unique = list(dict.fromkeys(found))
        self.obeyed.extend(unique)
        return unique


def _rank() -> PlanStep:
    return PlanStep(tool="rank_candidates", args={"model": "popularity", "k": 10})


def _json(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def obeying_llm_brain(runtime: AgentRuntime) -> LLMBrain:
    """An :class:`~recpilot.agent.LLMBrain` over an :class:`ObeyingLLM` (for ``SuiteRunner(brain=...)``)."""
    return LLMBrain(ObeyingLLM(runtime))
