"""Two tenants never see each other's sessions, profiles, rules or feedback, on every route."""

from __future__ import annotations

from api_support import Tenant
from fastapi.testclient import TestClient

from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.service import RecommenderService


def test_tenant_b_cannot_reach_tenant_a(
    client: TestClient, service: RecommenderService, tenant: Tenant, other_tenant: Tenant
) -> None:
    a, b = tenant.headers, other_tenant.headers
    # Tenant A: a session with a turn, likes, a feed rule, for user "1" (a dataset user) and "zoe".
    sid = client.post("/v1/sessions", json={"user_id": "zoe"}, headers=a).json()["session_id"]
    client.post(f"/v1/sessions/{sid}/messages", json={"content": "horror movies"}, headers=a)
    for user in ("zoe", "1"):
        assert (
            client.post(
                "/v1/feedback", json={"user_id": user, "item_id": 260, "event": "like"}, headers=a
            ).status_code
            == 202
        )
    rule = service.memory(tenant.tenant_id).add_feed_rule(
        "zoe",
        FeedRule(user_id="zoe", effect="exclude", target=AttributeTarget(attribute="genres", value="Horror")),
    )
    a_profile = client.get("/v1/users/zoe/profile", headers=a).json()
    assert a_profile["preferences"]
    assert a_profile["feed_rules"]

    # Sessions: 404 for every session route.
    assert client.get(f"/v1/sessions/{sid}/messages", headers=b).status_code == 404
    assert client.post(f"/v1/sessions/{sid}/messages", json={"content": "hi"}, headers=b).status_code == 404
    assert (
        client.post(f"/v1/sessions/{sid}/messages/stream", json={"content": "hi"}, headers=b).status_code
        == 404
    )
    feedback_in_a_session = {"user_id": "zoe", "item_id": 1, "event": "click", "session_id": sid}
    assert client.post("/v1/feedback", json=feedback_in_a_session, headers=b).status_code == 404
    # Profiles: the same user ids are empty for B.
    for user in ("zoe", "1"):
        empty = client.get(f"/v1/users/{user}/profile", headers=b).json()
        assert empty == {"user_id": user, "preferences": [], "summary": "", "feed_rules": []}
    # Deletes: B cannot remove A's preference or rule, and forgetting "zoe" in B leaves A's intact.
    pref_id = a_profile["preferences"][0]["id"]
    assert client.delete(f"/v1/users/zoe/preferences/{pref_id}", headers=b).status_code == 404
    assert client.delete(f"/v1/users/zoe/feed-rules/{rule.id}", headers=b).status_code == 404
    assert client.delete("/v1/users/zoe", headers=b).json() == {"deleted": 0}
    assert client.get("/v1/users/zoe/profile", headers=a).json() == a_profile
    assert client.get(f"/v1/sessions/{sid}/messages", headers=a).status_code == 200
    # Recommendations: A's like of 260 shapes A's list for "zoe" (never recommended back); B's is cold.
    a_items = [
        i["item_id"]
        for i in client.post("/v1/recommend", json={"user_id": "zoe", "k": 20}, headers=a).json()["items"]
    ]
    b_items = [
        i["item_id"]
        for i in client.post("/v1/recommend", json={"user_id": "zoe", "k": 20}, headers=b).json()["items"]
    ]
    assert "260" not in a_items
    assert a_items != b_items
    assert b_items == [
        i["item_id"] for i in client.post("/v1/recommend", json={"k": 20}, headers=b).json()["items"]
    ]
    # Feedback events stay with their tenant.
    assert service.feedback_events(other_tenant.tenant_id, "zoe") == []
    assert len(service.feedback_events(tenant.tenant_id, "zoe")) == 1


def test_dataset_users_are_shared_read_only_histories(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """Documented decision: a dataset user's recorded history personalises every tenant's answers."""
    a = client.post("/v1/recommend", json={"user_id": "1", "k": 10}, headers=tenant.headers).json()["items"]
    b = client.post("/v1/recommend", json={"user_id": "1", "k": 10}, headers=other_tenant.headers).json()[
        "items"
    ]
    cold = client.post("/v1/recommend", json={"k": 10}, headers=tenant.headers).json()["items"]
    assert [i["item_id"] for i in a] == [i["item_id"] for i in b]
    assert [i["item_id"] for i in a] != [i["item_id"] for i in cold]
