"""The agent across turns: dialogue state kept per session, critiques that change the next list, and
the bad inputs of a conversation (off-topic, unknown references, contradictory answers)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from recpilot.agent import RecommenderAgent
from recpilot.agent.offline import OfflineBrain
from recpilot.agent.offline.conversation import OFF_TOPIC_REPLY
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.types import AgentResponse
from recpilot.conversation.policy import build_policy
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.sql import SqlProfileMemory
from recpilot.types import ItemId

VIOLENT = {"Action", "Thriller", "Horror", "Crime", "War"}


@pytest.fixture(scope="module")
def agent(runtime: AgentRuntime) -> RecommenderAgent:
    return RecommenderAgent(runtime, k=10)


def _session() -> str:
    return f"conv-{uuid.uuid4().hex[:10]}"


def _genres(response: AgentResponse) -> list[set[str]]:
    return [set(item.attributes.get("genres", [])) for item in response.items]


def test_state_is_saved_every_turn(agent: RecommenderAgent) -> None:
    session = _session()
    first = agent.respond("1", "crime thrillers from the 90s", session_id=session)
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.turn == 1
    assert state.shown == [[str(i.item_id) for i in first.items]]
    assert state.last_action == "recommend"
    agent.respond("1", "not the first", session_id=session)
    agent.respond("1", "what do you know about me?", session_id=session)
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.turn == 3
    assert len(state.shown) == 2
    assert state.last_action == "answer"
    assert [c.kind for c in state.critiques] == ["reject"]
    assert state.rejected_items == [str(first.items[0].item_id)]


def test_state_survives_a_restart_with_the_sql_memory(runtime: AgentRuntime, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    try:

        def fresh_agent() -> RecommenderAgent:
            memory = SqlProfileMemory(engine)
            return RecommenderAgent(AgentRuntime(runtime.catalog, runtime.models, memory), k=5)

        first = fresh_agent().respond("1", "a comedy", session_id="s")
        second = fresh_agent().respond("1", "not the second one", session_id="s")
        assert first.items[1].item_id not in {i.item_id for i in second.items}
        assert "Noted: not" in second.reply
    finally:
        engine.dispose()


def test_not_this_one_removes_the_item_and_pushes_its_neighbours_down(
    agent: RecommenderAgent, runtime: AgentRuntime
) -> None:
    session = _session()
    before = agent.respond("1", "crime thrillers from the 90s", session_id=session)
    rejected = before.items[0].item_id
    after = agent.respond("1", "not this one", session_id=session)
    ids_before = [i.item_id for i in before.items]
    ids_after = [i.item_id for i in after.items]
    assert rejected not in ids_after
    # The rejected item's nearest neighbours among the rest of the first list: mean of content and
    # co-watching similarity, each scaled over those items.
    rest = ids_before[1:]
    parts = []
    for role in ("content", "collaborative"):
        scores = np.asarray(runtime.models[role].score(rest, history=[rejected]), dtype=np.float64)
        parts.append((scores - scores.min()) / (scores.max() - scores.min()))
    order = np.argsort(-np.mean(parts, axis=0))
    neighbours, distant = [rest[i] for i in order[:3]], [rest[i] for i in order[-3:]]

    def moves(items: list[ItemId]) -> list[int]:
        return [
            (ids_after.index(i) if i in ids_after else len(ids_after)) - ids_before.index(i) for i in items
        ]

    # A plain filter would move every item up one place (-1); the reflection holds the neighbours back.
    assert moves(neighbours)[0] > 0, f"the nearest neighbour moved {moves(neighbours)[0]}"
    assert sum(moves(neighbours)) > 0, "on the whole the neighbours rank lower than before"
    assert sum(moves(neighbours)) > sum(moves(distant)), "the least similar items fare better"


def test_less_violent_leaves_fewer_violent_genres(agent: RecommenderAgent) -> None:
    session = _session()
    before = agent.respond("1", "what should I watch tonight?", session_id=session)
    after = agent.respond("1", "less violent", session_id=session)
    assert len(after.items) >= 5
    violent_before = sum(bool(g & VIOLENT) for g in _genres(before))
    violent_after = sum(bool(g & VIOLENT) for g in _genres(after))
    assert violent_after < violent_before
    assert "less" in after.reply.lower()


def test_more_like_the_second_one_recentres(agent: RecommenderAgent, runtime: AgentRuntime) -> None:
    session = _session()
    before = agent.respond("1", "a comedy", session_id=session)
    anchor = before.items[1].item_id
    after = agent.respond("1", "more like the second one", session_id=session)
    assert anchor not in {i.item_id for i in after.items}, "the anchor itself is not recommended back"
    model = runtime.models["content"]
    closeness_before = float(np.mean(model.score([i.item_id for i in before.items if i.item_id != anchor],
                                                 history=[anchor])))  # fmt: skip
    closeness_after = float(np.mean(model.score([i.item_id for i in after.items], history=[anchor])))
    assert closeness_after > closeness_before
    assert all("Comedy" in g for g in _genres(after)), "the rest of the request still holds"


def test_older_is_relative_to_what_was_shown(agent: RecommenderAgent) -> None:
    session = _session()
    before = agent.respond("1", "sci-fi", session_id=session)
    years = sorted(int(i.attributes["year"]) for i in before.items)
    after = agent.respond("1", "something older", session_id=session)
    assert after.items
    assert max(int(i.attributes["year"]) for i in after.items) < float(np.median(years))


def test_cheaper_is_refused_clearly_and_changes_nothing(agent: RecommenderAgent) -> None:
    session = _session()
    agent.respond("1", "a comedy", session_id=session)
    before = agent.runtime.memory.dialogue_state(session)
    response = agent.respond("1", "something cheaper", session_id=session)
    assert response.items == []
    assert "no price" in response.reply
    assert agent.runtime.memory.dialogue_state(session) == before


def test_reference_to_an_item_not_shown(agent: RecommenderAgent) -> None:
    session = _session()
    agent.respond("1", "give me 5 comedies", session_id=session)
    before = agent.runtime.memory.dialogue_state(session)
    assert before is not None
    assert len(before.last_shown) == 5
    for message in ("the seventh one", "not the seventh one", "more like the seventh one"):
        response = agent.respond("1", message, session_id=session)
        assert response.items == []
        assert "7" in response.reply
        assert "5" in response.reply
        assert agent.runtime.memory.dialogue_state(session) == before, "state unchanged"


def test_off_topic_gets_a_polite_redirect(agent: RecommenderAgent) -> None:
    session = _session()
    agent.respond("1", "a comedy", session_id=session)
    before = agent.runtime.memory.dialogue_state(session)
    for message in ("what's the weather like tomorrow?", "who won the football game?"):
        response = agent.respond("1", message, session_id=session)
        assert response.reply == OFF_TOPIC_REPLY
        assert response.items == []
        assert agent.runtime.memory.dialogue_state(session) == before


def test_a_pick_is_recorded(agent: RecommenderAgent) -> None:
    session = _session()
    shown = agent.respond("1", "a comedy", session_id=session)
    response = agent.respond("1", "I'll take the third one", session_id=session)
    assert shown.items[2].title.split(" (")[0] in response.reply
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.accepted_items == [str(shown.items[2].item_id)]


def test_vague_request_of_a_new_user_gets_a_question_and_latest_answer_wins(runtime: AgentRuntime) -> None:
    asking = RecommenderAgent(runtime, brain=OfflineBrain(clarify_policy="preference-weighted"), k=5)
    session, user = _session(), f"new-{uuid.uuid4().hex[:8]}"
    question = asking.respond(user, "something to watch tonight", session_id=session)
    assert question.items == []
    assert "?" in question.reply
    state = runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.last_action == "ask"
    asked = state.pending_question
    assert asked is not None
    value = asked.partition("=")[2]
    assert value in question.reply
    yes = asking.respond(user, "yes", session_id=session)
    assert yes.items
    assert all(value in g for g in _genres(yes))
    no = asking.respond(user, "no", session_id=session)
    assert "latest answer wins" in no.reply
    assert f"yes to {value}" in no.reply
    assert no.items
    assert not any(value in g for g in _genres(no))
    state = runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.rejected_attributes == [asked]
    assert state.accepted_attributes == []


def test_known_users_and_the_default_brain_are_not_asked(
    runtime: AgentRuntime, agent: RecommenderAgent
) -> None:
    asking = RecommenderAgent(runtime, brain=OfflineBrain(clarify_policy="preference-weighted"), k=5)
    assert asking.respond("1", "something to watch tonight", session_id=_session()).items, (
        "user 1 has history"
    )
    new_user = f"new-{uuid.uuid4().hex[:8]}"
    assert agent.respond(new_user, "something to watch tonight", session_id=_session()).items


def test_a_multiple_choice_question_and_its_answer(runtime: AgentRuntime) -> None:
    policy = build_policy("preference-weighted", question_size=3)
    asking = RecommenderAgent(runtime, brain=OfflineBrain(clarify_policy=policy), k=5)
    session, user = _session(), f"new-{uuid.uuid4().hex[:8]}"
    question = asking.respond(user, "recommend me something", session_id=session)
    state = runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.pending_question is not None
    offered = state.pending_question.split(",")
    assert len(offered) == 3
    values = [a.partition("=")[2] for a in offered]
    assert all(v in question.reply for v in values)
    answer = asking.respond(user, values[1], session_id=session)
    assert answer.items
    assert all(values[1] in g for g in _genres(answer))
    state = runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.accepted_attributes == [offered[1]]


def test_two_critiques_in_one_message_are_both_applied(agent: RecommenderAgent) -> None:
    session = _session()
    before = agent.respond("1", "a tense and exciting movie from the 90s", session_id=session)
    after = agent.respond("1", "not the first one, and less violent", session_id=session)
    assert before.items[0].item_id not in {i.item_id for i in after.items}
    violent_before = sum(bool(g & VIOLENT) for g in _genres(before))
    violent_after = sum(bool(g & VIOLENT) for g in _genres(after))
    assert violent_after < violent_before
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert [c.kind for c in state.critiques] == ["reject", "less"]


def test_a_request_with_a_but_is_not_split_into_critiques(agent: RecommenderAgent) -> None:
    session = _session()
    agent.respond("1", "a comedy", session_id=session)
    agent.respond("1", "something romantic but not too sad", session_id=session)
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.critiques == []


def test_a_state_stored_before_dialogue_acts_still_continues_its_list(agent: RecommenderAgent) -> None:
    """States saved before focus, seen items and request tracking existed: "more" re-reads the dialogue."""
    session = _session()
    first = agent.respond("1", "westerns", session_id=session)
    stored = agent.runtime.memory.dialogue_state(session)
    assert stored is not None
    old = stored.model_dump(mode="json", exclude={"focus_item", "seen_items", "requests", "discussed"})
    agent.runtime.memory.save_dialogue_state(DialogueState.model_validate(old))
    reloaded = agent.runtime.memory.dialogue_state(session)
    assert reloaded is not None
    assert reloaded.requests is None
    more = agent.respond("1", "show me more", session_id=session)
    assert more.items
    assert all("Western" in g for g in _genres(more))
    assert not {i.item_id for i in first.items} & {i.item_id for i in more.items}


def test_focus_follows_the_item_talked_about(agent: RecommenderAgent) -> None:
    session = _session()
    shown = agent.respond("1", "a 90s thriller", session_id=session)
    agent.respond("1", "is the fourth one violent?", session_id=session)
    state = agent.runtime.memory.dialogue_state(session)
    assert state is not None
    assert state.focus_item == str(shown.items[3].item_id)
    why = agent.respond("1", "why that one?", session_id=session)
    assert shown.items[3].title.split(" (")[0].split(",")[0] in why.reply
    assert why.items == []
