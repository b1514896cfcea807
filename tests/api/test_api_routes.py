"""The /v1 routes do what the contract says, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from api_support import Tenant
from fastapi.testclient import TestClient

from recpilot.service import RecommenderService


def test_recommend_known_user_excludes_history_and_explains(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/v1/recommend", json={"user_id": "1", "k": 5}, headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "1"
    assert len(body["items"]) == 5
    service: RecommenderService = client.app.state.service  # type: ignore[attr-defined]
    data = service.runtime.catalog.dataset
    seen = {str(i) for i in data.items.to_external(data.user_sequence(data.users.index_of(1))).tolist()}
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    for item in body["items"]:
        assert item["item_id"] not in seen
        assert item["title"]
        assert item["explanation"]
        assert item["title"] == service.runtime.catalog.title(item["item_id"])


def test_recommend_history_with_constraints_and_exclusions(client: TestClient, tenant: Tenant) -> None:
    first = client.post(
        "/v1/recommend",
        json={"history": [1, 2355], "k": 8, "constraints": {"attributes": {"genres": ["Comedy"]}}},
        headers=tenant.headers,
    ).json()["items"]
    assert len(first) == 8
    assert all("Comedy" in item["attributes"]["genres"] for item in first)
    assert all("it's a comedy, as you asked" in item["explanation"] for item in first)
    assert not {"1", "2355"} & {item["item_id"] for item in first}
    dropped = first[0]["item_id"]
    second = client.post(
        "/v1/recommend",
        json={
            "history": [1, 2355],
            "k": 8,
            "constraints": {"attributes": {"genres": ["Comedy"]}},
            "exclude": [dropped],
        },
        headers=tenant.headers,
    ).json()["items"]
    assert dropped not in {item["item_id"] for item in second}
    assert second[0]["item_id"] == first[1]["item_id"]


def test_recommend_rejects_unknown_history_and_oversized_k(client: TestClient, tenant: Tenant) -> None:
    unknown = client.post("/v1/recommend", json={"history": [1, 99999999]}, headers=tenant.headers)
    assert unknown.status_code == 422
    assert "99999999" in unknown.json()["detail"]
    big = client.post("/v1/recommend", json={"k": 5000}, headers=tenant.headers)
    assert big.status_code == 422
    assert "k" in big.json()["detail"]
    over_limit = client.post("/v1/recommend", json={"k": 500}, headers=tenant.headers)
    assert over_limit.status_code == 422
    assert "limit of 100" in over_limit.json()["detail"]
    attribute = client.post(
        "/v1/recommend", json={"constraints": {"attributes": {"colour": ["red"]}}}, headers=tenant.headers
    )
    assert attribute.status_code == 422
    assert "colour" in attribute.json()["detail"]


def test_feedback_likes_shape_profile_and_recommendations(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    cold = client.post("/v1/recommend", json={"user_id": "newbie", "k": 10}, headers=h).json()["items"]
    disliked = cold[0]["item_id"]
    assert (
        client.post(
            "/v1/feedback", json={"user_id": "newbie", "item_id": 260, "event": "like"}, headers=h
        ).status_code
        == 202
    )
    assert (
        client.post(
            "/v1/feedback", json={"user_id": "newbie", "item_id": disliked, "event": "dislike"}, headers=h
        ).status_code
        == 202
    )
    client.post("/v1/feedback", json={"user_id": "newbie", "item_id": 1, "event": "impression"}, headers=h)
    profile = client.get("/v1/users/newbie/profile", headers=h).json()
    kinds = {(p["kind"], p["value"]) for p in profile["preferences"]}
    assert kinds == {("like_item", "260"), ("dislike_item", str(disliked))}
    warm = client.post("/v1/recommend", json={"user_id": "newbie", "k": 10}, headers=h).json()["items"]
    ids = [item["item_id"] for item in warm]
    assert "260" not in ids
    assert disliked not in ids
    assert any("Star Wars" in item["explanation"] for item in warm)
    # A like after a dislike of the same item replaces it.
    client.post("/v1/feedback", json={"user_id": "newbie", "item_id": disliked, "event": "like"}, headers=h)
    profile = client.get("/v1/users/newbie/profile", headers=h).json()
    assert ("dislike_item", str(disliked)) not in {(p["kind"], p["value"]) for p in profile["preferences"]}


def test_feedback_validation_and_idempotent_event_ids(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    rating = client.post("/v1/feedback", json={"user_id": "u", "item_id": 1, "event": "rating"}, headers=h)
    assert rating.status_code == 422
    assert "value" in rating.json()["detail"]
    unknown = client.post("/v1/feedback", json={"user_id": "u", "item_id": -5, "event": "click"}, headers=h)
    assert unknown.status_code == 422
    assert "item_id" in unknown.json()["detail"]
    bad_event = client.post("/v1/feedback", json={"user_id": "u", "item_id": 1, "event": "love"}, headers=h)
    assert bad_event.status_code == 422
    assert "body.event" in bad_event.json()["detail"]
    event = {"user_id": "u", "item_id": 1, "event": "click", "event_id": "e-1"}
    first = client.post("/v1/feedback", json=event, headers=h).json()
    again = client.post("/v1/feedback", json=event, headers=h).json()
    assert again == {"id": first["id"], "duplicate": True}
    assert first["duplicate"] is False
    service: RecommenderService = client.app.state.service  # type: ignore[attr-defined]
    assert len(service.feedback_events(tenant.tenant_id, "u")) == 1


def test_chat_session_json_turn_is_stored(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    session = client.post("/v1/sessions", json={"user_id": "ann"}, headers=h)
    assert session.status_code == 201
    sid = session.json()["session_id"]
    reply = client.post(
        f"/v1/sessions/{sid}/messages", json={"content": "a funny sci-fi movie from the 90s"}, headers=h
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["reply"]
    assert body["items"]
    assert body["degraded"] is False
    assert body["session_id"] == sid
    for item in body["items"]:
        assert 1990 <= item["attributes"]["year"] <= 1999
    history = client.get(f"/v1/sessions/{sid}/messages", headers=h).json()
    assert history["user_id"] == "ann"
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "a funny sci-fi movie from the 90s"),
        ("assistant", body["reply"]),
    ]


def test_profile_deletes(client: TestClient, tenant: Tenant, service: RecommenderService) -> None:
    h = tenant.headers
    client.post("/v1/feedback", json={"user_id": "bo", "item_id": 1, "event": "like"}, headers=h)
    client.post("/v1/feedback", json={"user_id": "bo", "item_id": 2, "event": "like"}, headers=h)
    prefs = client.get("/v1/users/bo/profile", headers=h).json()["preferences"]
    gone = client.delete(f"/v1/users/bo/preferences/{prefs[0]['id']}", headers=h)
    assert gone.json() == {"deleted": 1}
    assert client.delete(f"/v1/users/bo/preferences/{prefs[0]['id']}", headers=h).status_code == 404
    assert [p["id"] for p in client.get("/v1/users/bo/profile", headers=h).json()["preferences"]] == [
        prefs[1]["id"]
    ]
    sid = client.post("/v1/sessions", json={"user_id": "bo"}, headers=h).json()["session_id"]
    client.post(f"/v1/sessions/{sid}/messages", json={"content": "comedies"}, headers=h)
    forgotten = client.delete("/v1/users/bo", headers=h).json()
    assert forgotten["deleted"] >= 5  # a like, two turns, the session and two feedback events
    assert client.get("/v1/users/bo/profile", headers=h).json()["preferences"] == []
    assert client.get(f"/v1/sessions/{sid}/messages", headers=h).status_code == 404
    assert service.feedback_events(tenant.tenant_id, "bo") == []


def test_feed_rules_listed_and_deleted(
    client: TestClient, tenant: Tenant, service: RecommenderService
) -> None:
    from recpilot.memory.feed_rules import AttributeTarget, FeedRule

    memory = service.memory(tenant.tenant_id)
    rule = memory.add_feed_rule(
        "cy",
        FeedRule(
            user_id="cy",
            effect="exclude",
            target=AttributeTarget(attribute="genres", value="Horror"),
            text="no horror",
        ),
    )
    listed = client.get("/v1/users/cy/profile", headers=tenant.headers).json()["feed_rules"]
    assert [(r["id"], r["effect"], r["target"]["value"], r["user_id"]) for r in listed] == [
        (rule.id, "exclude", "Horror", "cy")
    ]
    assert client.delete(f"/v1/users/cy/feed-rules/{rule.id}", headers=tenant.headers).json() == {
        "deleted": 1
    }
    assert client.delete(f"/v1/users/cy/feed-rules/{rule.id}", headers=tenant.headers).status_code == 404
    assert client.get("/v1/users/cy/profile", headers=tenant.headers).json()["feed_rules"] == []


def test_feed_rules_show_whose_words_asked_for_them(
    client: TestClient, tenant: Tenant, service: RecommenderService
) -> None:
    from recpilot.memory.feed_rules import AttributeTarget, FeedRule
    from recpilot.memory.provenance import Provenance

    h = tenant.headers
    sid = client.post("/v1/sessions", json={"user_id": "dee"}, headers=h).json()["session_id"]
    client.post(f"/v1/sessions/{sid}/messages", json={"content": "comedies"}, headers=h)
    before = time.time()
    said = client.post(
        f"/v1/sessions/{sid}/messages", json={"content": "no more horror this week"}, headers=h
    )
    assert said.status_code == 200
    listed = client.get("/v1/users/dee/profile", headers=h).json()["feed_rules"]
    assert said.json()["feed_rules"] == listed, "the chat reply and the profile show the same rules"
    (rule,) = listed
    at = rule["provenance"].pop("at")
    assert rule["provenance"] == {"source": "user", "via": "offline_parser", "turn": 2, "session_id": sid}
    assert before <= at <= time.time()
    # A rule from code with a hostile session id, and one of unknown provenance, are shown safely.
    memory = service.memory(tenant.tenant_id)
    for value, provenance in (
        ("Drama", Provenance(session_id="s\u202eevil\x1b[31m")),
        ("Western", Provenance.legacy()),
    ):
        target = AttributeTarget(attribute="genres", value=value)
        memory.add_feed_rule(
            "dee", FeedRule(user_id="dee", effect="boost", target=target, provenance=provenance)
        )
    shown = client.get("/v1/users/dee/profile", headers=h).json()["feed_rules"]
    assert [(r["provenance"]["source"], r["provenance"]["via"]) for r in shown] == [
        ("user", "offline_parser"),
        ("library", "direct"),
        ("unknown", "unknown"),
    ]
    assert not any(c in shown[1]["provenance"]["session_id"] for c in "\u202e\x1b")
    listing = client.post(f"/v1/sessions/{sid}/messages", json={"content": "what are my rules?"}, headers=h)
    reply = listing.json()["reply"]
    assert f"from your message (turn 2 of session {sid}), read by the offline parser" in reply
    assert "from unknown (before provenance)" in reply


def test_explain(client: TestClient, tenant: Tenant) -> None:
    ok = client.get("/v1/users/1/explanations/1036", headers=tenant.headers)
    assert ok.status_code == 200
    assert ok.json()["title"] == "Die Hard (1988)"
    assert ok.json()["reasons"]
    assert client.get("/v1/users/1/explanations/99999999", headers=tenant.headers).status_code == 404


def test_auth_missing_malformed_unknown_and_revoked(client: TestClient, service: RecommenderService) -> None:
    body = {"k": 1}
    missing = client.post("/v1/recommend", json=body)
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    malformed = client.post("/v1/recommend", json=body, headers={"Authorization": "Bearer nope"})
    assert malformed.status_code == 401
    assert "malformed" in malformed.json()["detail"]
    issued = service.create_api_key("revoking")
    forged = issued.key[:-3] + "abc"
    assert (
        client.post("/v1/recommend", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )
    good = {"Authorization": f"Bearer {issued.key}"}
    assert client.post("/v1/recommend", json=body, headers=good).status_code == 200
    assert service.revoke_api_key(issued.key_id)
    revoked = client.post("/v1/recommend", json=body, headers=good)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


def test_keys_are_stored_only_as_hashes(service: RecommenderService) -> None:
    import sqlalchemy as sa

    issued = service.create_api_key("hashing")
    with service.state.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT * FROM api_keys WHERE key_id = :k"), {"k": issued.key_id}).one()
    secret = issued.key.split("_", 2)[2]
    assert secret not in [str(v) for v in stored]


def test_item_ids_are_text_out_and_text_or_integers_in(client: TestClient, tenant: Tenant) -> None:
    """MovieLens ids are numbers in the files; the API answers them as text everywhere and reads an
    integer in a request as its text, so both forms ask for the same thing."""
    h = tenant.headers
    request = {"history": ["1", "2355"], "k": 5, "exclude": ["3114"]}
    as_text = client.post("/v1/recommend", json=request, headers=h).json()["items"]
    mixed = {"history": [1, "2355"], "k": 5, "exclude": [3114]}
    assert client.post("/v1/recommend", json=mixed, headers=h).json()["items"] == as_text
    assert all(type(item["item_id"]) is str for item in as_text)
    reasons = [reason for item in as_text for reason in item["reasons"]]
    anchors = [r["evidence"]["item_id"] for r in reasons if r["kind"] == "history"]
    assert anchors
    assert set(anchors) <= {"1", "2355"}
    explained = client.get("/v1/users/1/explanations/1036", headers=h).json()
    assert explained["item_id"] == "1036"
    for item_id in (260, "260"):  # the same like, whichever form it came in
        sent = {"user_id": "ida", "item_id": item_id, "event": "like"}
        assert client.post("/v1/feedback", json=sent, headers=h).status_code == 202
    profile = client.get("/v1/users/ida/profile", headers=h).json()
    assert [p["value"] for p in profile["preferences"]] == ["260"]
    for bad in (True, 1.5, 2**64, None):
        refused = client.post("/v1/recommend", json={"history": [bad]}, headers=h)
        assert refused.status_code == 422, bad
        assert "history" in refused.json()["detail"]


def test_openapi_documents_item_ids_as_text(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ItemOut"]["properties"]["item_id"]["type"] == "string"
    assert schemas["ExplanationOut"]["properties"]["item_id"]["type"] == "string"
    history = schemas["RecommendRequest"]["properties"]["history"]["anyOf"][0]["items"]
    assert [form["type"] for form in history["anyOf"]] == ["string", "integer"]
    assert [form["type"] for form in schemas["FeedbackIn"]["properties"]["item_id"]["anyOf"]] == [
        "string",
        "integer",
    ]
