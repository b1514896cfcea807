"""The cached recommend path answers exactly what ranking the whole catalog answers, and obeys feed
rules and profile changes (in this process and in another one on the same store)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from api_support import Tenant, make_service
from fastapi.testclient import TestClient

from recpilot.memory.base import Preference, UserProfile
from recpilot.memory.feed_rules import AttributeTarget, FeedRule, NumericTarget
from recpilot.service import RecommenderService
from recpilot.service.recommend import Recommendations
from recpilot.service.schemas import RecommendRequest
from recpilot.types import HardConstraints


def _horror_ids(service: RecommenderService, n: int) -> list[int]:
    """The ``n`` most popular Horror items."""
    catalog = service.runtime.catalog
    rows = catalog.dataset.catalog
    horror = [i for i, genres in enumerate(rows["genres"]) if "Horror" in list(genres)]
    horror.sort(key=lambda i: -catalog.popularity[i])
    return [int(catalog.dataset.items.external_ids[i]) for i in horror[:n]]


def _pairs(response: object) -> list[tuple[object, float]]:
    return [(item.item_id, item.score) for item in response.items]  # type: ignore[attr-defined]


def test_cached_results_equal_uncached_full_ranking(service: RecommenderService) -> None:
    cached = service.recommendations
    uncached = Recommendations(service.runtime.catalog, service.runtime.models, cache_size=0)
    rng = random.Random(7)
    ids = service.runtime.catalog.dataset.items.external_ids.tolist()
    horror = _horror_ids(service, 5)
    now = time.time()
    rule_sets = [
        (),
        (FeedRule(user_id="u", effect="exclude", target=AttributeTarget(attribute="genres", value="Drama")),),
        (FeedRule(user_id="u", effect="require", target=NumericTarget(attribute="year", min=1995)),),
        (FeedRule(user_id="u", effect="boost", target=AttributeTarget(attribute="genres", value="Comedy")),),
        (
            FeedRule(
                user_id="u",
                effect="exclude",
                target=AttributeTarget(attribute="genres", value="Comedy"),
                expires_at=now - 10,
            ),
        ),
    ]
    constraint_sets = [
        None,
        HardConstraints(attributes={"genres": ["Documentary"]}),
        HardConstraints(exclude_attributes={"genres": ["Drama", "Comedy", "Action"]}),
        HardConstraints(numeric={"year": {"min": 2010}}),
    ]
    checked = 0
    for round_ in range(60):
        user = rng.choice([str(rng.randint(1, 610)), None])
        request = RecommendRequest(
            user_id=user or "someone-new",
            history=None if user else rng.sample(ids, rng.randint(0, 6)),
            k=rng.choice([1, 10, 50, 100]),
            constraints=constraint_sets[round_ % len(constraint_sets)],
            exclude=rng.sample(ids, rng.randint(0, 300)),
            model=rng.choice([None, "collaborative", "popularity"]),
        )
        profile = UserProfile(
            user_id="u",
            preferences=[Preference(kind="dislike_item", value=str(i)) for i in rng.sample(ids, 3)]
            + [Preference(kind="like_item", value=str(i)) for i in horror[: rng.randint(0, 2)]],
        )
        rules = rule_sets[round_ % len(rule_sets)]
        for _ in range(2):  # the second call is answered from the cache
            got = cached.recommend(request, 1000, profile=profile, rules=rules, now=now)
            want = uncached.recommend(request, 1000, profile=profile, rules=rules, now=now)
            assert _pairs(got) == _pairs(want), request
            assert [i.explanation for i in got.items] == [i.explanation for i in want.items]
        checked += len(want.items)
    assert checked > 1000  # the comparison covered real lists, not empty answers


def test_feed_rule_excludes_horror_until_it_expires(
    client: TestClient, tenant: Tenant, service: RecommenderService
) -> None:
    h = tenant.headers
    for item in _horror_ids(service, 8):
        client.post("/v1/feedback", json={"user_id": "fan", "item_id": item, "event": "like"}, headers=h)

    def genres() -> list[list[str]]:
        body = client.post("/v1/recommend", json={"user_id": "fan", "k": 20}, headers=h).json()
        return [item["attributes"].get("genres", []) for item in body["items"]]

    assert any("Horror" in g for g in genres())  # a horror fan is recommended horror
    service.memory(tenant.tenant_id).add_feed_rule(
        "fan",
        FeedRule(
            user_id="fan",
            effect="exclude",
            target=AttributeTarget(attribute="genres", value="Horror"),
            expires_at=time.time() + 1.5,
        ),
    )
    ruled = genres()
    assert len(ruled) == 20
    assert not any("Horror" in g for g in ruled)
    time.sleep(1.6)
    assert any("Horror" in g for g in genres())  # the expired rule no longer applies


def test_profile_changes_reach_a_second_process_cache(
    api_home: Path, store_url: str, client: TestClient, tenant: Tenant, service: RecommenderService
) -> None:
    other = make_service(api_home, store_url)  # another server process on the same store
    try:
        request = RecommendRequest(user_id="1", k=10)
        before = [i.item_id for i in other.recommend(tenant.tenant_id, request).items]
        blocked = before[0]
        answer = client.post(
            "/v1/feedback",
            json={"user_id": "1", "item_id": blocked, "event": "dislike"},
            headers=tenant.headers,
        )
        assert answer.status_code == 202
        after = [i.item_id for i in other.recommend(tenant.tenant_id, request).items]
        assert blocked not in after
        assert after[:9] == before[1:]
        # The agent's memory view in the other process reads through the same versioned cache.
        seen_there = other.memory(tenant.tenant_id).profile("1")
        assert [p.value for p in seen_there.preferences if p.kind == "dislike_item"] == [str(blocked)]
        service.memory(tenant.tenant_id).set_summary("1", "likes heists")
        assert other.memory(tenant.tenant_id).profile("1").summary == "likes heists"
    finally:
        other.close()


@pytest.mark.parametrize("explain", [True, False])
def test_explain_flag(client: TestClient, tenant: Tenant, explain: bool) -> None:
    body = client.post(
        "/v1/recommend", json={"user_id": "2", "k": 5, "explain": explain}, headers=tenant.headers
    )
    items = body.json()["items"]
    assert len(items) == 5
    assert all(bool(item["reasons"]) == explain for item in items)
