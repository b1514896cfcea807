"""Feed commands in the chat: stored as typed rules, obeyed by every later answer, listed and removed."""

from __future__ import annotations

import time
import uuid

import pytest

from recpilot.agent import RecommenderAgent
from recpilot.agent.runtime import AgentRuntime
from recpilot.conversation.feed import AttributeTarget, FeedRule, is_sequel_title
from recpilot.conversation.tools import add_feed_rule, list_feed_rules
from recpilot.errors import ConfigError
from recpilot.tools.context import ToolContext


@pytest.fixture(scope="module")
def agent(runtime: AgentRuntime) -> RecommenderAgent:
    return RecommenderAgent(runtime, k=10)


def _user() -> str:
    return f"feed-{uuid.uuid4().hex[:10]}"


def _genres(item: object) -> set[str]:
    return set(getattr(item, "attributes", {}).get("genres", []))


def test_no_more_horror_this_week_is_stored_and_obeyed(agent: RecommenderAgent) -> None:
    user = _user()
    reply = agent.respond(user, "no more horror this week", session_id=f"{user}-a")
    assert reply.items == []
    assert "Horror" in reply.reply
    (rule,) = agent.runtime.memory.feed_rules(user)
    assert (rule.effect, rule.target) == ("exclude", AttributeTarget(attribute="genres", value="Horror"))
    assert rule.expires_at == pytest.approx(time.time() + 7 * 86_400, abs=60)
    # Every later answer obeys it, in any session, even when the request does not mention it.
    for message in ("thrillers", "something like Alien", "the most popular movies"):
        response = agent.respond(user, message, session_id=f"{user}-b")
        assert response.items, message
        assert not any("Horror" in _genres(i) for i in response.items), message
    asked = agent.respond(user, "horror movies", session_id=f"{user}-c")
    assert asked.items == []
    assert "what are my rules" in asked.reply


def test_boost_require_and_sequels(agent: RecommenderAgent) -> None:
    user = _user()
    plain = agent.respond(user, "the most popular movies", session_id=f"{user}-0")
    agent.respond(user, "show me more documentaries", session_id=f"{user}-a")
    agent.respond(user, "stop recommending sequels", session_id=f"{user}-a")
    agent.respond(user, "only movies after 2000 for today", session_id=f"{user}-a")
    response = agent.respond(user, "something like Toy Story", session_id=f"{user}-b")
    assert len(response.items) >= 5
    assert not any(is_sequel_title(i.title) for i in response.items)
    assert all(int(i.attributes["year"]) > 2000 for i in response.items)
    boosted = agent.respond(user, "the most popular movies", session_id=f"{user}-c")
    count = sum("Documentary" in _genres(i) for i in boosted.items)
    assert count > sum("Documentary" in _genres(i) for i in plain.items)


def test_list_remove_and_allow_again(agent: RecommenderAgent) -> None:
    user, session = _user(), _user()
    agent.respond(user, "no more horror this week", session_id=session)
    agent.respond(user, "stop recommending sequels", session_id=session)
    listing = agent.respond(user, "what are my rules?", session_id=session).reply
    ids = [r.id for r in agent.runtime.memory.feed_rules(user)]
    assert all(f"#{i}" in listing for i in ids)
    assert "no more horror this week" in listing
    removed = agent.respond(user, f"remove rule {ids[1]}", session_id=session)
    assert f"#{ids[1]}" in removed.reply
    assert [r.id for r in agent.runtime.memory.feed_rules(user)] == ids[:1]
    allowed = agent.respond(user, "allow horror again", session_id=session)
    assert "Removed" in allowed.reply
    assert agent.runtime.memory.feed_rules(user) == []
    assert agent.respond(user, "horror movies", session_id=session).items, "horror is back"


def test_removing_a_rule_that_does_not_exist(agent: RecommenderAgent) -> None:
    user = _user()
    agent.respond(user, "stop recommending sequels", session_id=user)
    before = agent.runtime.memory.feed_rules(user)
    response = agent.respond(user, "remove rule 987654", session_id=user)
    assert "no rule #987654" in response.reply
    assert agent.runtime.memory.feed_rules(user) == before


def test_expired_rules_stop_applying_and_are_listed_as_expired(agent: RecommenderAgent) -> None:
    user = _user()
    memory = agent.runtime.memory
    memory.add_feed_rule(
        user,
        FeedRule(
            user_id=user,
            effect="exclude",
            target=AttributeTarget(attribute="genres", value="Comedy"),
            text="no comedies today",
            created_at=time.time() - 2 * 86_400,
            expires_at=time.time() - 86_400,
        ),
    )
    response = agent.respond(user, "comedies", session_id=user)
    assert response.items, "the expired rule no longer applies"
    assert all("Comedy" in _genres(i) for i in response.items)
    listing = agent.respond(user, "what are my rules?", session_id=user).reply
    assert "Expired" in listing
    assert "genres=Comedy" in listing
    assert len(memory.feed_rules(user, include_expired=True)) == 1, "reported, not silently deleted"


def test_a_target_the_catalog_cannot_express(agent: RecommenderAgent) -> None:
    user = _user()
    response = agent.respond(user, "no more telenovelas this week", session_id=user)
    assert "can't filter on" in response.reply
    assert agent.runtime.memory.feed_rules(user) == []


@pytest.mark.parametrize("days", [0.0, -1.0, float("nan")])
def test_feed_tool_refuses_durations_that_are_not_positive(runtime: AgentRuntime, days: float) -> None:
    user = _user()
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, user)
    with pytest.raises(ConfigError, match="days must be more than 0"):
        add_feed_rule.function(context, effect="exclude", attribute="genres", value="Horror", days=days)
    assert runtime.memory.feed_rules(user) == []


@pytest.mark.parametrize("days", [1e300, float("inf")])
def test_feed_tool_treats_endless_durations_as_until_removed(runtime: AgentRuntime, days: float) -> None:
    # An LLM may pass any float: the rule must stay storable and listable, not crash the listing.
    user = _user()
    context = ToolContext(runtime.catalog, runtime.models, runtime.memory, user)
    add_feed_rule.function(context, effect="exclude", attribute="genres", value="Horror", days=days)
    (rule,) = runtime.memory.feed_rules(user)
    assert rule.expires_at is None
    assert "until you remove it" in list_feed_rules.function(context).summary
