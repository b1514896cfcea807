"""The dialogue state's public home, its JSON form and the latest-answer-wins rule."""

from __future__ import annotations

from recpilot.conversation import state as conversation_state
from recpilot.memory import DialogueState, InMemoryProfileMemory


def test_conversation_and_memory_share_one_type() -> None:
    assert conversation_state.DialogueState is DialogueState, "memory stores exactly what policies use"


def test_latest_answer_wins() -> None:
    state = DialogueState(session_id="s", user_id="ann")
    state.accept_attribute("genres=Comedy")
    state.reject_attribute("genres=Comedy")
    assert state.rejected_attributes == ["genres=Comedy"]
    assert state.accepted_attributes == []
    assert state.asked == ["genres=Comedy"], "asked once, however often answered"


def test_older_json_without_the_new_fields_still_loads() -> None:
    old = '{"session_id": "s", "user_id": "ann", "turn": 3, "shown": [["1", "2"]]}'
    state = DialogueState.model_validate_json(old)
    assert state.last_shown == ["1", "2"]
    assert state.item_weights == {}
    assert state.pending_question is None
    memory = InMemoryProfileMemory()
    memory.save_dialogue_state(state)
    assert memory.dialogue_state("s") == state
