"""The contract every ask-or-recommend policy must honour, as a pytest mixin.

Usage in a test module::

    class TestMaxEntropy(PolicyContract):
        def make_policy(self, **overrides):
            return MaxEntropyPolicy(**overrides)

The checks run on a small attribute space whose right answers are known: every action must be a
valid :class:`~recpilot.conversation.policy.Ask` (attributes of the space, not asked or answered
before) or :class:`~recpilot.conversation.policy.Recommend` (candidates only, at most ``k``, no
rejected item); the last turn and a single candidate always recommend; a fixed seed decides alike.
:func:`choosing_model` is a scripted LLM that asks about the first offered attribute.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from recpilot.conversation.policy.base import Ask, ConversationPolicy, Recommend
from recpilot.conversation.policy.space import AttributeSpace
from recpilot.conversation.state import DialogueState
from recpilot.errors import ConfigError
from recpilot.registry import REGISTRY
from recpilot.testing.llm_models import ScriptedModel, scripted_model

_OFFERED = re.compile(r"^- (\S+) \(P\(yes\)", re.MULTILINE)


def contract_space() -> AttributeSpace:
    """Eight items: ``g=half`` splits them 4/4, ``g=common`` is on 7, ``g=rare`` on 1, ``g=pair`` on 2."""
    return AttributeSpace.from_item_attributes(
        {
            "a": ["g=half", "g=common", "g=rare"],
            "b": ["g=half", "g=common", "g=pair"],
            "c": ["g=half", "g=common", "g=pair"],
            "d": ["g=half", "g=common"],
            "e": ["g=common"],
            "f": ["g=common"],
            "g": ["g=common"],
            "h": [],
        }
    )


def _ask_first_offered(messages: list[ModelMessage], info: AgentInfo) -> Any:
    text = "\n".join(str(getattr(part, "content", "")) for part in messages[-1].parts)
    offered = _OFFERED.findall(text)
    if not offered:
        return {"action": "recommend", "reason": "nothing to ask"}
    return {"action": "ask", "attributes": offered[:1], "reason": "the first offered"}


def choosing_model(turns: int = 100) -> ScriptedModel:
    """A scripted model for the LLM policy: asks about the first attribute offered, ``turns`` times."""
    return scripted_model(*[_ask_first_offered] * turns)


def _state(**fields: Any) -> DialogueState:
    return DialogueState(session_id="contract", user_id="u", **fields)


class PolicyContract:
    """Behaviour shared by all policies; subclass and implement :meth:`make_policy`.

    Class attributes:
        invalid_config: A config override that must be rejected with :class:`ConfigError`.
    """

    invalid_config: ClassVar[dict[str, Any]] = {"k": 0}

    def make_policy(self, **overrides: Any) -> ConversationPolicy[Any]:
        """A fresh policy with config ``overrides`` (``k``, ``seed``...)."""
        raise NotImplementedError

    def _check(self, action: Ask | Recommend, state: DialogueState, space: AttributeSpace, k: int) -> None:
        assert isinstance(action, Ask | Recommend), f"a policy answers Ask or Recommend, not {action!r}"
        if isinstance(action, Ask):
            known = {*state.asked, *state.accepted_attributes, *state.rejected_attributes}
            assert set(action.attributes) <= set(space.attribute_names), action.attributes
            assert not set(action.attributes) & known, f"asked again: {action.attributes}"
            assert len(set(action.attributes)) == len(action.attributes)
            assert action.multiple_choice == (len(action.attributes) > 1)
            return
        mask = space.candidate_mask(
            state.accepted_attributes, state.rejected_attributes, state.rejected_items
        )
        candidates = {space.item_ids[int(row)] for row in np.flatnonzero(mask)}
        assert 0 < len(action.item_ids) <= k
        assert len(set(action.item_ids)) == len(action.item_ids)
        assert set(action.item_ids) <= candidates, f"{action.item_ids} are not all candidates {candidates}"

    # -- the contract ----------------------------------------------------------------------------------------

    def test_first_action_is_valid(self) -> None:
        space, state = contract_space(), _state()
        policy = self.make_policy(k=2)
        self._check(policy.decide(state, space), state, space, 2)
        scores = np.arange(space.n_items, dtype=np.float64)
        self._check(self.make_policy(k=2).decide(state, space, scores), state, space, 2)

    def test_a_conversation_stays_valid(self) -> None:
        space, state = contract_space(), _state()
        policy = self.make_policy(k=2)
        target = "c"
        target_attributes = {"g=half", "g=common", "g=pair"}
        for turn in range(6):
            action = policy.decide(state, space, turns_left=6 - turn)
            self._check(action, state, space, 2)
            if isinstance(action, Recommend):
                if target in action.item_ids:
                    return
                for item in action.item_ids:
                    state.reject_item(item)
                continue
            for attribute in action.attributes:
                if attribute in target_attributes:
                    state.accept_attribute(attribute)
                else:
                    state.reject_attribute(attribute)

    def test_last_turn_and_single_candidate_recommend(self) -> None:
        space, state = contract_space(), _state()
        last = self.make_policy(k=3).decide(state, space, turns_left=1)
        assert isinstance(last, Recommend), "the last turn always recommends"
        self._check(last, state, space, 3)
        narrowed = _state()
        narrowed.accept_attribute("g=rare")
        single = self.make_policy(k=3).decide(narrowed, space)
        assert isinstance(single, Recommend)
        assert single.item_ids == ["a"]

    def test_same_seed_same_decision(self) -> None:
        space = contract_space()
        first = self.make_policy(k=2, seed=5).decide(_state(), space)
        second = self.make_policy(k=2, seed=5).decide(_state(), space)
        assert first == second

    def test_config_round_trip_and_invalid_config(self) -> None:
        policy = self.make_policy(k=4)
        assert isinstance(policy.name, str)
        assert policy.name.strip()
        spec = {
            "class": f"{type(policy).__module__}.{type(policy).__qualname__}",
            "config": policy.config.model_dump(),
        }
        rebuilt = REGISTRY.build("policy", spec, **self.objects())
        assert type(rebuilt) is type(policy)
        assert rebuilt.config == policy.config
        with pytest.raises(ConfigError):
            self.make_policy(**self.invalid_config)

    def objects(self) -> dict[str, Any]:
        """Objects the policy is built from besides its config (e.g. ``model=`` an LLM stand-in)."""
        return {}


__all__ = ["PolicyContract", "choosing_model", "contract_space"]
