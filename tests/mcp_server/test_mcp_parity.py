"""One ranking implementation: HTTP, MCP and the CLI return the same items for the same request, and
MCP ``recommend`` obeys the user's feed rules as ``POST /v1/recommend`` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from recpilot.api import create_app
from recpilot.cli.app import main
from recpilot.mcp_server import create_mcp_server
from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.service import RecommenderService
from recpilot.service.schemas import RecommendRequest

pytestmark = pytest.mark.anyio

REQUESTS: list[dict[str, Any]] = [
    {"user_id": "1", "k": 10},
    {"user_id": "7", "k": 12, "exclude": ["318", "356"]},
    {"history": ["1", "260", "1196"], "k": 8},
    {"user_id": "3", "k": 5, "constraints": {"attributes": {"genres": ["Documentary"]}}},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _mcp_items(service: RecommenderService, tenant: str, body: dict[str, Any]) -> list[Any]:
    server, _ = create_mcp_server(
        service.runtime, memory_for=lambda _t: service.memory(tenant), recommendations=service.recommendations
    )
    async with Client(server) as client:
        result = await client.call_tool("recommend", {"user_id": "mcp", **body})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [(item["item_id"], item["score"]) for item in result.structured_content["data"]["items"]]


async def test_http_mcp_and_cli_return_the_same_items(
    service: RecommenderService, mcp_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = service.create_api_key("parity").key
    with TestClient(create_app(service=service)) as http:
        for body in REQUESTS:
            answer = http.post("/v1/recommend", json=body, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200, answer.text
            over_http = [(item["item_id"], item["score"]) for item in answer.json()["items"]]
            assert len(over_http) == body["k"]
            assert await _mcp_items(service, "parity", body) == over_http
    # The CLI ranks with the same fitted model (saved by the service under its home).
    (model_dir,) = (mcp_home / "ml-latest-small" / "models").glob("collaborative-*")
    for body in REQUESTS[:2]:
        argv = ["recommend", "--user", body["user_id"], "--model-dir", str(model_dir), "--k", str(body["k"])]
        argv += ["--exclude", ",".join(body.get("exclude", [])), "--json"]
        capsys.readouterr()
        assert main(argv) == 0
        over_cli = [row["item_id"] for row in json.loads(capsys.readouterr().out)["items"]]
        answer = service.recommend("parity", RecommendRequest.model_validate(body))
        assert over_cli == [item.item_id for item in answer.items]


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
