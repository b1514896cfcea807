"""The contract every brain must honour, as a pytest mixin.

Usage in a test module::

    class TestOfflineBrain(BrainContract):
        def make_brain(self) -> Brain:
            return OfflineBrain()

The brain answers turns inside a :class:`~recpilot.agent.RecommenderAgent` over the known-answer
catalog (six taste groups; each user misses one item of their group), so the right first item for a
known user is known in advance. :func:`planning_model` is a scripted LLM that plans "rank for this
user" and writes a reply choosing the listed items: the LLM brain's stand-in model.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any, ClassVar

import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import Act, Brain, Composition, ToolRunner, Turn
from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.agent.types import AgentResponse, Plan, PlanStep
from recpilot.testing.datasets import KnownAnswer, known_answer_dataset
from recpilot.testing.llm_models import ScriptedModel, scripted_model
from recpilot.tools.context import ToolContext

#: The models of the contract's runtime (fitted on the known-answer data in well under a second).
ROLES: dict[str, Any] = {"collaborative": {"class": "ease", "config": {"l2": 10.0}}, "content": "content"}
_ITEM_LINE = re.compile(r"^- (\S+) \| ", re.MULTILINE)
_sessions = itertools.count()


def _plan_or_reply(messages: list[ModelMessage], info: AgentInfo) -> Any:
    """A plan (rank for the user, top 5) or, when asked to write, a reply choosing the listed items."""
    schema = info.output_tools[0].parameters_json_schema if info.output_tools else {}
    if "steps" in schema.get("properties", {}):
        return Plan(intent="recommend", steps=[PlanStep(tool="rank_candidates", args={"k": 5})])
    text = "\n".join(str(getattr(part, "content", "")) for part in messages[-1].parts)
    return {"reply": "These fit your taste.", "item_ids": _ITEM_LINE.findall(text)}


def planning_model(turns: int = 50) -> ScriptedModel:
    """A scripted model that answers ``turns`` LLM-brain turns (a plan, then a reply, each turn)."""
    return scripted_model(*[_plan_or_reply] * (2 * turns))


class BrainContract:
    """Behaviour shared by all brains; subclass and implement :meth:`make_brain`.

    Class attributes:
        message: A plain request for recommendations.
        k: Items the agent shows per answer.
    """

    message: ClassVar[str] = "recommend me something"
    k: ClassVar[int] = 5

    def make_brain(self) -> Brain:
        """A fresh brain (built with a stand-in model when it talks to one)."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def known(cls) -> KnownAnswer:
        return known_answer_dataset()

    @pytest.fixture(scope="class")
    @classmethod
    def runtime(cls, known: KnownAnswer) -> AgentRuntime:
        return build_runtime(known.dataset, roles=ROLES)

    def _respond(self, runtime: AgentRuntime, user: str, message: str | None = None) -> AgentResponse:
        agent = RecommenderAgent(runtime, brain=self.make_brain(), k=self.k)
        return agent.respond(user, message or self.message, session_id=f"contract-{next(_sessions)}")

    # -- the contract ----------------------------------------------------------------------------------------

    def test_has_a_name(self) -> None:
        brain = self.make_brain()
        assert isinstance(brain, Brain)
        assert isinstance(brain.name, str)
        assert brain.name.strip()

    def test_answers_a_request_with_catalog_items(self, known: KnownAnswer, runtime: AgentRuntime) -> None:
        user = next(iter(known.missing_item))
        response = self._respond(runtime, user)
        assert not response.degraded, f"the brain failed and a fallback answered: {response.trace}"
        assert response.brain == self.make_brain().name
        assert response.reply.strip()
        ids = [str(item.item_id) for item in response.items]
        assert 0 < len(ids) <= self.k
        assert len(set(ids)) == len(ids), f"an item is shown twice: {ids}"
        catalog = {str(i) for i in known.dataset.items.external_ids}
        assert set(ids) <= catalog
        sequence = known.dataset.user_sequence(known.dataset.users.index_of(user))
        seen = {str(i) for i in known.dataset.items.to_external(sequence)}
        assert not set(ids) & seen, "a recommendation repeats what the user already has"
        assert any(step.kind == "tool_call" for step in response.trace), "tools run through the dispatcher"

    def test_known_users_get_their_missing_item_first(
        self, known: KnownAnswer, runtime: AgentRuntime
    ) -> None:
        users = list(known.missing_item)[::9]
        firsts = {user: [str(i.item_id) for i in self._respond(runtime, user).items[:1]] for user in users}
        hits = sum(first == [str(known.missing_item[user])] for user, first in firsts.items())
        assert hits / len(users) >= 0.8, f"{hits}/{len(users)} users got their missing item first"

    def test_act_then_compose_are_typed(self, known: KnownAnswer, runtime: AgentRuntime) -> None:
        brain = self.make_brain()
        user = next(iter(known.missing_item))
        agent = RecommenderAgent(runtime, brain=brain, k=self.k)
        context = ToolContext(runtime.catalog, runtime.models, runtime.memory, user)
        tools = ToolRunner(agent.dispatcher, context)
        turn = Turn(user, f"contract-{next(_sessions)}", self.message, [], runtime.memory.profile(user))
        act = asyncio.run(brain.act(turn, tools))
        assert isinstance(act, Act)
        assert not act.degraded
        ranked = [str(item) for item, _ in context.candidates.ranked]
        assert act.reply is not None or ranked, "act() neither ranked items nor answered"
        assert set(ranked) <= {str(i) for i in known.dataset.items.external_ids}
        composition = asyncio.run(brain.compose(turn, act, [], tools))
        assert isinstance(composition, Composition)
        assert composition.reply.strip()

    def test_same_settings_same_answer(self, known: KnownAnswer, runtime: AgentRuntime) -> None:
        user = list(known.missing_item)[3]
        first = [item.item_id for item in self._respond(runtime, user).items]
        second = [item.item_id for item in self._respond(runtime, user).items]
        assert first == second, "two brains made with the same settings answered differently"


__all__ = ["ROLES", "BrainContract", "planning_model"]
