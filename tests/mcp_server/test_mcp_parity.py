"""One ranking pipeline: the agent's tools, HTTP, MCP and the CLI return the same items with the same
reasons for the same request, and MCP ``recommend`` obeys the user's feed rules as
``POST /v1/recommend`` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from recpilot.agent.explain import explain
from recpilot.api import create_app
from recpilot.cli.app import main
from recpilot.conversation.feed import feed_adjuster
from recpilot.mcp_server import create_mcp_server
from recpilot.memory.base import Preference
from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.service import RecommenderService
from recpilot.tools import RECOMMENDER_TOOLS, ToolContext, ToolDispatcher
from recpilot.types import HardConstraints

pytestmark = pytest.mark.anyio

REQUESTS: list[dict[str, Any]] = [
    {"user_id": "1", "k": 10},
    {"user_id": "7", "k": 12, "exclude": ["318", "356"]},
    {"history": ["1", "260", "1196"], "k": 8},
    {"user_id": "3", "k": 5, "constraints": {"attributes": {"genres": ["Documentary"]}}},
]


async def _mcp_items(service: RecommenderService, tenant: str, body: dict[str, Any]) -> list[Any]:
    server, _ = create_mcp_server(
        service.runtime, memory_for=lambda _t: service.memory(tenant), recommendations=service.recommendations
    )
    async with Client(server) as client:
        result = await client.call_tool("recommend", {"user_id": "mcp", **body})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [(item["item_id"], item["score"]) for item in result.structured_content["data"]["items"]]


async def _mcp_answer(service: RecommenderService, tenant: str, body: dict[str, Any]) -> list[Any]:
    server, _ = create_mcp_server(
        service.runtime, memory_for=lambda _t: service.memory(tenant), recommendations=service.recommendations
    )
    async with Client(server) as client:
        result = await client.call_tool("recommend", {"user_id": "mcp", **body})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [_entry(item) for item in result.structured_content["data"]["items"]]


def _entry(item: dict[str, Any]) -> tuple[Any, float, list[dict[str, Any]]]:
    """What every entry point must agree on: the item, its score and its reasons."""
    return item["item_id"], item["score"], item["reasons"]


def _agent_answer(service: RecommenderService, tenant: str, body: dict[str, Any]) -> list[Any]:
    """The agent's own tool chain: ``rank_candidates`` through the dispatcher, then the agent's
    explanations, with the tenant's memory, likes, dislikes and feed rules as the agent installs them."""
    runtime = service.runtime
    memory = service.memory(tenant)
    user = body["user_id"]
    context = ToolContext(
        catalog=runtime.catalog,
        models=runtime.models,
        memory=memory,
        user_id=user,
        constraints=HardConstraints(exclude_items=list(body.get("exclude", []))),
    )
    rules = memory.feed_rules(user)
    context.score_adjusters = [feed_adjuster(rules)] if rules else []
    call = ToolDispatcher(RECOMMENDER_TOOLS).call("rank_candidates", {"k": body["k"]}, context)
    assert call.ok, call.error
    # Inside the process the agent keeps the catalog's ids; every boundary answers them as text.
    return [
        (
            str(item),
            round(score, 6),
            [r.model_dump(mode="json") for r in explain(context, item, context.constraints)],
        )
        for item, score in context.candidates.ranked
    ]


def _cli_answer(model_dir: Path, body: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[Any]:
    argv = ["recommend", "--user", body["user_id"], "--model-dir", str(model_dir), "--k", str(body["k"])]
    argv += ["--exclude", ",".join(body.get("exclude", [])), "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    return [
        _entry({**row, "score": round(row["score"], 6)})
        for row in json.loads(capsys.readouterr().out)["items"]
    ]


async def test_agent_http_mcp_and_cli_return_the_same_items_and_reasons(
    service: RecommenderService, mcp_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = service.create_api_key("parity").key
    # The CLI ranks with the same fitted model (saved by the service under its home).
    (model_dir,) = (mcp_home / "ml-latest-small" / "models").glob("collaborative-*")
    with TestClient(create_app(service=service)) as http:
        for body in REQUESTS:
            answer = http.post("/v1/recommend", json=body, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200, answer.text
            over_http = [_entry(item) for item in answer.json()["items"]]
            assert len(over_http) == body["k"]
            assert all(reasons for _, _, reasons in over_http)
            assert await _mcp_answer(service, "parity", body) == over_http
            if "history" in body or "constraints" in body:
                continue  # the agent's tool and the CLI take a user, k and exclusions
            assert _agent_answer(service, "parity", body) == over_http
            assert _cli_answer(model_dir, body, capsys) == over_http
            assert not {str(item) for item, _, _ in over_http} & set(body.get("exclude", []))


async def test_remembered_likes_dislikes_and_rules_rank_the_same_everywhere(
    service: RecommenderService,
) -> None:
    """A user the tenant's memory knows: a like (history and the "people who liked" reason), a dislike
    and an exclude rule reach the agent's tool, HTTP and MCP alike."""
    tenant = "parity-memory"
    service.create_tenant(tenant)
    key = service.create_api_key(tenant).key
    memory = service.memory(tenant)
    memory.remember("zoe", Preference(kind="like_item", value="1"))  # Toy Story
    memory.remember("zoe", Preference(kind="dislike_item", value="3114"))  # Toy Story 2
    memory.add_feed_rule(
        "zoe",
        FeedRule(user_id="zoe", effect="exclude", target=AttributeTarget(attribute="genres", value="Comedy")),
    )
    body = {"user_id": "zoe", "k": 8, "exclude": ["2355"]}
    with TestClient(create_app(service=service)) as http:
        answer = http.post("/v1/recommend", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    over_http = [_entry(item) for item in answer.json()["items"]]
    assert len(over_http) == 8
    catalog = service.runtime.catalog
    assert not any("Comedy" in list(catalog.row(item)["genres"]) for item, _, _ in over_http)
    assert not {"1", "3114", "2355"} & {item for item, _, _ in over_http}
    anchors = {r["evidence"]["item_id"] for _, _, rs in over_http for r in rs if r["kind"] == "history"}
    assert "1" in anchors
    assert await _mcp_answer(service, tenant, body) == over_http
    assert _agent_answer(service, tenant, body) == over_http


async def test_mcp_recommend_obeys_feed_rules(service: RecommenderService) -> None:
    tenant = "parity-rules"
    service.create_tenant(tenant)
    service.memory(tenant).add_feed_rule(
        "mcp",
        FeedRule(user_id="mcp", effect="exclude", target=AttributeTarget(attribute="genres", value="Comedy")),
    )
    body = {"history": ["1", "2355", "3114"], "k": 15}  # Toy Story, A Bug's Life, Toy Story 2: comedies
    ruled = await _mcp_items(service, tenant, body)
    free = await _mcp_items(service, "parity-free", body)
    catalog = service.runtime.catalog

    def comedies(items: list[Any]) -> int:
        return sum("Comedy" in list(catalog.row(item_id)["genres"]) for item_id, _ in items)

    assert comedies(free) > 0
    assert comedies(ruled) == 0
    assert len(ruled) == 15
