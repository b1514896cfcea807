"""The MCP server over its real transports: a spawned stdio process, and streamable HTTP on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from _mcp_results import error_text, result_data
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from starlette.applications import Starlette

from recpilot.mcp_server import McpServerConfig, create_mcp_server
from recpilot.mcp_server.http import mount_mcp
from recpilot.service import AuthenticationError, RecommenderService

pytestmark = pytest.mark.anyio


async def test_stdio_server_process(service: RecommenderService, mcp_home: Path) -> None:
    # The service fixture fitted and cached the models under mcp_home, so the process only loads them.
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "recpilot.mcp_server", "--user", "1"],
        env={"RECPILOT_HOME": str(mcp_home), "PATH": os.environ.get("PATH", "")},
    )
    async with Client(params, read_timeout_seconds=120) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        recommended = await client.call_tool("recommend", {"k": 3})
        explained = await client.call_tool("explain", {"user_id": "1", "item": "2571"})
        searched = await client.call_tool("search_catalog", {"keywords": "toy story", "limit": 2})
        bad = await client.call_tool("search_catalog", {"limit": "lots"})
    assert {"recommend", "explain", "search_catalog"} <= names
    assert "remember_preference" not in names
    items = result_data(recommended)["items"]
    assert len(items) == 3
    assert result_data(recommended)["user_id"] == "1"
    assert all(item["explanation"] for item in items)
    assert result_data(explained)["title"] == "Matrix, The (1999)"
    assert result_data(searched)["count"] == 2
    assert "limit:" in error_text(bad)


def _verify(service: RecommenderService) -> Any:
    def verify(key: str) -> str | None:
        try:
            return service.authenticate(key).tenant_id
        except AuthenticationError:
            return None

    return verify


async def test_streamable_http_mounted_with_api_keys_and_tenants(
    service: RecommenderService, threaded_server: Any
) -> None:
    service.create_tenant("mcp-a")
    service.create_tenant("mcp-b")
    key_a = service.create_api_key("mcp-a").key
    key_b = service.create_api_key("mcp-b").key
    server, _ = create_mcp_server(
        service.runtime,
        McpServerConfig(allow_write=True),
        memory_for=lambda tenant: service.memory(tenant or "default"),
    )
    app = Starlette()
    mount_mcp(app, server, path="/mcp", verify=_verify(service))
    with threaded_server(app) as running:
        url = f"{running.url}/mcp"
        for headers in ({}, {"Authorization": "Bearer not-a-key"}):
            refused = httpx2.post(url, json={}, headers=headers)
            assert refused.status_code == 401
            assert "API key" in refused.json()["detail"]
        async with Client(
            streamable_http_client(
                url, http_client=create_mcp_http_client({"Authorization": f"Bearer {key_a}"})
            )
        ) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            recommended = await client.call_tool(
                "recommend", {"user_id": "1", "k": 4, "constraints": {"attributes": {"genres": ["Horror"]}}}
            )
            stored = await client.call_tool(
                "remember_preference",
                {"user_id": "carol", "kind": "like_attribute", "value": "genres=Horror"},
            )
            bad = await client.call_tool("explain", {"user_id": "1"})
        async with Client(
            streamable_http_client(
                url, http_client=create_mcp_http_client({"Authorization": f"Bearer {key_b}"})
            )
        ) as client:
            other = await client.call_tool("user_profile", {"user_id": "carol"})
    assert {"recommend", "explain", "search_catalog", "remember_preference"} <= names
    items = result_data(recommended)["items"]
    assert len(items) == 4
    assert all("Horror" in item["attributes"]["genres"] for item in items)
    assert isinstance(result_data(stored)["id"], int)
    assert "item:" in error_text(bad)
    # The write landed in tenant a's memory only.
    assert service.memory("mcp-a").profile("carol").values("like_attribute") == ["genres=Horror"]
    assert result_data(other)["preferences"] == []
