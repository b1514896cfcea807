"""The MCP server in-process through the official client: tool listing, schemas, calls, errors, policy."""

from __future__ import annotations

from typing import Any

import pytest
from _mcp_results import error_text, result_data
from mcp import Client

from recpilot.agent import RecommenderAgent
from recpilot.agent.agent import DEFAULT_TOOLS
from recpilot.mcp_server import McpServerConfig, create_mcp_server, mcp_dispatcher, service_dispatcher
from recpilot.mcp_server.server import _USER_ID_SCHEMA
from recpilot.safety import datamark, default_policy
from recpilot.service import RecommenderService
from recpilot.tools import ToolContext, ToolOutput, ToolSpec, tool

pytestmark = pytest.mark.anyio


async def _listed(server: Any) -> dict[str, Any]:
    async with Client(server) as client:
        return {tool.name: tool for tool in (await client.list_tools()).tools}


def _mcp_schema(spec: ToolSpec) -> dict[str, Any]:
    """The schema MCP lists for ``spec``: its own, plus the user the call is for when it has none."""
    schema = spec.json_schema()
    if "user_id" not in spec.args_model.model_fields:
        schema["properties"] = {**schema["properties"], "user_id": _USER_ID_SCHEMA}
    return schema


async def test_lists_agent_tools_and_service_tools_with_typed_schemas(service: RecommenderService) -> None:
    server, dispatcher = create_mcp_server(service.runtime)
    tools = await _listed(server)
    read_only = [spec.name for spec in dispatcher.specs if spec.privilege == "read"]
    assert list(tools) == read_only, "a read-only server lists the dispatcher's read tools, in order"
    assert {"recommend", "explain", "search_catalog", "list_feed_rules"} <= set(tools)
    recommend = tools["recommend"].input_schema
    assert recommend["properties"]["k"]["type"] == "integer"
    assert recommend["additionalProperties"] is False
    assert "HardConstraints" in str(recommend["properties"]["constraints"])
    assert tools["explain"].input_schema["required"] == ["user_id", "item"]
    # Agent tools gain the user they act for; descriptions come from the docstrings.
    assert "user_id" in tools["rank_candidates"].input_schema["properties"]
    assert "hard constraints" in (tools["search_catalog"].description or "")
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools.values())


async def test_the_tool_list_is_the_agents_dispatcher_with_the_same_schemas_and_policy(
    service: RecommenderService,
) -> None:
    agent = RecommenderAgent(service.runtime)
    server, dispatcher = create_mcp_server(service.runtime, McpServerConfig(allow_write=True))
    tools = await _listed(server)
    assert list(tools) == [spec.name for spec in dispatcher.specs]
    assert set(tools) == {spec.name for spec in agent.dispatcher.specs} | {"recommend", "explain"}
    for spec in dispatcher.specs:
        assert tools[spec.name].input_schema == _mcp_schema(spec), spec.name
        assert tools[spec.name].description == spec.description
    for spec in agent.dispatcher.specs:
        assert dispatcher.spec(spec.name) is spec, "the agent's own tool, not a copy"
    assert dispatcher.policy == default_policy() == agent.dispatcher.policy


@tool()
def shelf_size(ctx: ToolContext, shelf: str = "all", limit: int = 10) -> ToolOutput:
    """How many items a shelf holds (a tool only this test's agent has).

    Args:
        shelf: The shelf's name.
        limit: The largest count to report.
    """
    count = min(limit, len(ctx.catalog.dataset.catalog))
    return ToolOutput(summary=f"{shelf}: {count}", data={"shelf": shelf, "count": count, "user": ctx.user_id})


async def test_a_tool_added_to_the_agents_set_is_served_without_editing_the_server(
    service: RecommenderService,
) -> None:
    agent = RecommenderAgent(service.runtime, tools=(*DEFAULT_TOOLS, shelf_size))
    own = agent.dispatcher
    server, dispatcher = create_mcp_server(service.runtime, dispatcher=mcp_dispatcher(own.specs, own.policy))
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        called = await client.call_tool("shelf_size", {"shelf": "comedy", "limit": 3, "user_id": "7"})
        refused = await client.call_tool("shelf_size", {"limit": "lots"})
    assert tools["shelf_size"].input_schema == _mcp_schema(shelf_size)
    assert (
        tools["shelf_size"].description == "How many items a shelf holds (a tool only this test's agent has)."
    )
    assert result_data(called) == {"shelf": "comedy", "count": 3, "user": "7"}
    assert "limit:" in error_text(refused), "validated by the dispatcher like any agent tool"
    assert dispatcher.spec("shelf_size") is shelf_size


async def test_the_served_agents_own_tools_and_policy_reach_mcp(
    service: RecommenderService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def factory(runtime: Any, policy: Any) -> RecommenderAgent:
        return RecommenderAgent(runtime, tools=(*DEFAULT_TOOLS, shelf_size), policy=policy)

    monkeypatch.setattr(service, "agent_factory", factory)
    dispatcher = service_dispatcher(service)
    assert dispatcher.policy is service.policy
    server, _ = create_mcp_server(service.runtime, dispatcher=dispatcher)
    tools = await _listed(server)
    assert "shelf_size" in tools
    assert set(tools) == {spec.name for spec in dispatcher.specs if spec.privilege == "read"}


async def test_recommend_honours_constraints_and_explains_each_item(service: RecommenderService) -> None:
    server, _ = create_mcp_server(service.runtime)
    async with Client(server) as client:
        result = await client.call_tool(
            "recommend",
            {
                "user_id": "1",
                "k": 5,
                "constraints": {"attributes": {"genres": ["Comedy"]}, "numeric": {"year": {"min": 1990}}},
            },
        )
    items = result_data(result)["items"]
    assert len(items) == 5
    catalog = service.runtime.catalog
    for item in items:
        assert catalog.has_item(item["item_id"])
        assert item["title"] == catalog.title(item["item_id"])
        assert "Comedy" in item["attributes"]["genres"]
        assert item["attributes"]["year"] >= 1990
        assert "it's a comedy, as you asked" in item["explanation"]
    seen = {
        str(i)
        for i in service.runtime.catalog.dataset.items.to_external(
            service.runtime.catalog.dataset.user_sequence(service.runtime.catalog.dataset.users.index_of(1))
        ).tolist()
    }
    assert not seen & {str(item["item_id"]) for item in items}


async def test_recommend_for_a_history_never_returns_the_history(service: RecommenderService) -> None:
    server, _ = create_mcp_server(service.runtime)
    async with Client(server) as client:
        result = await client.call_tool("recommend", {"history": ["1", "Toy Story 2 (1999)"], "k": 8})
    ids = {str(item["item_id"]) for item in result_data(result)["items"]}
    assert len(ids) == 8
    assert not ids & {"1", "3114"}


async def test_explain_ties_the_item_to_the_users_history(service: RecommenderService) -> None:
    server, _ = create_mcp_server(service.runtime)
    async with Client(server) as client:
        result = await client.call_tool("explain", {"user_id": "1", "item": "Matrix, The (1999)"})
    data = result_data(result)
    assert data["item_id"] == "2571"
    assert data["title"] == "Matrix, The (1999)"
    assert 1 <= data["rank"] <= data["n_items"]
    kinds = {reason["kind"] for reason in data["reasons"]}
    assert {"history", "model"} <= kinds
    assert result.structured_content is not None
    assert datamark(data["explanation"]) in result.structured_content["summary"], "marked as data"


async def test_bad_arguments_are_error_results_that_name_the_argument(service: RecommenderService) -> None:
    server, _ = create_mcp_server(service.runtime)
    async with Client(server) as client:
        wrong_type = await client.call_tool("recommend", {"k": "many"})
        unknown = await client.call_tool("search_catalog", {"keyword": "alien"})
        out_of_range = await client.call_tool("recommend", {"k": 0})
        missing_item = await client.call_tool("explain", {"user_id": "1", "item": "No Such Film Ever"})
        still_serving = await client.call_tool("search_catalog", {"keywords": "alien", "limit": 3})
    assert "k:" in error_text(wrong_type)
    assert "keyword:" in error_text(unknown)
    assert "k must be between 1 and 100" in error_text(out_of_range)
    assert "'No Such Film Ever'" in error_text(missing_item)
    assert result_data(still_serving)["count"] == 3


async def test_writing_tools_need_allow_write_and_go_through_the_policy(service: RecommenderService) -> None:
    read_only, dispatcher = create_mcp_server(service.runtime)
    async with Client(read_only) as client:
        hidden = await client.call_tool("remember_preference", {"kind": "like_item", "value": "Heat"})
    assert hidden.is_error
    memory = service.memory("mcp-policy")
    denied = dispatcher.call(
        "remember_preference",
        {"kind": "like_item", "value": "Heat"},
        _context(service, memory, "writer"),
    )
    assert not denied.ok
    assert denied.denied is not None
    assert denied.denied.policy == "read-only+default", "the agent's policy, read-only, in the dispatcher"
    assert "only runs read-only tools" in denied.error

    writable, _ = create_mcp_server(
        service.runtime, McpServerConfig(allow_write=True), memory_for=lambda _tenant: memory
    )
    async with Client(writable) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        stored = await client.call_tool(
            "remember_preference", {"kind": "like_item", "value": "Heat (1995)", "user_id": "writer"}
        )
        liked = memory.profile("writer").values("like_item")
        rule = await client.call_tool(
            "add_feed_rule",
            {"effect": "exclude", "attribute": "genres", "value": "Horror", "user_id": "writer"},
        )
        rules = memory.feed_rules("writer")
        forgot = await client.call_tool("forget_preference", {"value": "Heat (1995)", "user_id": "writer"})
        erased = await client.call_tool("forget_everything", {"user_id": "writer"})
    assert {"remember_preference", "forget_preference", "add_feed_rule", "forget_everything"} <= names
    assert isinstance(result_data(stored)["id"], int)
    assert liked == ["6"]
    assert not rule.is_error
    assert [r.target.model_dump() for r in rules] == [
        {"kind": "attribute", "attribute": "genres", "value": "Horror"}
    ]
    assert result_data(forgot)["removed"] == 1
    assert not erased.is_error, "an MCP call is the client's own, confirmed request"
    assert memory.feed_rules("writer", include_expired=True) == []
    assert service.memory("someone-else").profile("writer").values("like_item") == []


def _context(service: RecommenderService, memory: Any, user: str) -> Any:
    runtime = service.runtime
    return ToolContext(runtime.catalog, runtime.models, memory, user)
