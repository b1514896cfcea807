"""The LLM-planned policy with a scripted model: typed choices, corrections and fallbacks."""

from __future__ import annotations

import time
from pathlib import Path

from recpilot.conversation.policy import Ask, AttributeSpace, PreferenceWeightedPolicy, Recommend
from recpilot.conversation.policy.llm import LLMPolicy
from recpilot.conversation.state import DialogueState
from recpilot.llm.settings import LLMSettings
from recpilot.testing.llm_models import scripted_model
from recpilot.testing.llm_server import ScriptedLLMServer, reply_delayed, reply_output


def _space() -> AttributeSpace:
    return AttributeSpace.from_item_attributes(
        {
            "a": ["g=x", "g=y"],
            "b": ["g=x"],
            "c": ["g=y", "g=z"],
            "d": ["g=z"],
            "e": ["g=x", "g=z"],
        }
    )


def _state() -> DialogueState:
    return DialogueState(session_id="s", user_id="u")


def test_llm_chooses_an_offered_attribute() -> None:
    model = scripted_model({"action": "ask", "attributes": ["g=z"], "reason": "splits the set"})
    action = LLMPolicy(k=2, model=model).decide(_state(), _space())
    assert isinstance(action, Ask)
    assert action.attributes == ["g=z"]
    assert "g=x" in model.calls[0].prompt  # the shortlist is in the prompt


def test_llm_recommend_uses_the_preference_ranking() -> None:
    scores = [0.0, 1.0, 5.0, 2.0, 3.0]
    model = scripted_model({"action": "recommend", "reason": "enough"})
    action = LLMPolicy(k=2, model=model).decide(_state(), _space(), scores)
    assert isinstance(action, Recommend)
    assert action.item_ids == ["c", "e"]


def test_an_attribute_outside_the_shortlist_is_sent_back_and_corrected() -> None:
    model = scripted_model(
        {"action": "ask", "attributes": ["g=invented"]},
        {"action": "ask", "attributes": ["g=y"]},
    )
    policy = LLMPolicy(k=2, model=model)
    action = policy.decide(_state(), _space())
    assert isinstance(action, Ask)
    assert action.attributes == ["g=y"]
    assert "g=invented" in model.calls[1].prompt
    assert not policy.fallbacks


def test_malformed_output_falls_back_to_preference_weighted_and_is_recorded() -> None:
    model = scripted_model({"action": "dance"}, "not even json")
    policy = LLMPolicy(k=2, model=model)
    scores = [0.0, 1.0, 5.0, 2.0, 3.0]
    action = policy.decide(_state(), _space(), scores)
    expected = PreferenceWeightedPolicy(k=2).decide(_state(), _space(), scores)
    assert action.model_copy(update={"note": ""}) == expected.model_copy(update={"note": ""})
    assert len(policy.fallbacks) == 1
    assert action.note.startswith("fallback")


def test_no_model_configured_falls_back() -> None:
    policy = LLMPolicy(k=2)
    action = policy.decide(_state(), _space())
    assert isinstance(action, Ask | Recommend)
    assert policy.fallbacks
    assert "no language model" in policy.fallbacks[0]


def test_a_decision_past_its_deadline_falls_back_with_the_reason(tmp_path: Path) -> None:
    answer = reply_output({"action": "recommend", "reason": "late"})
    with ScriptedLLMServer([reply_delayed(3.0, answer)]) as server:
        settings = LLMSettings(base_url=server.base_url, model="m", modes_file=tmp_path / "modes.json")
        policy = LLMPolicy(k=2, model=settings, deadline_s=0.3)
        started = time.monotonic()
        action = policy.decide(_state(), _space(), [0.0, 1.0, 5.0, 2.0, 3.0])
    assert time.monotonic() - started < 2.5  # cut at the policy's deadline, not the answer's delay
    assert isinstance(action, Ask | Recommend)  # the preference-weighted decision
    assert policy.fallbacks == ["LLMDeadlineError: no usable answer within the 0.3s deadline"]
    assert policy.books.attempts == 1  # the one request sent, booked
