"""The MCP server: recpilot's recommender tools for any MCP client, over stdio or streamable HTTP."""

from recpilot.mcp_server.server import McpServerConfig, create_mcp_server, offered_tools
from recpilot.mcp_server.tools import SERVICE_TOOLS, explain, mcp_dispatcher, recommend, service_dispatcher

__all__ = [
    "SERVICE_TOOLS",
    "McpServerConfig",
    "create_mcp_server",
    "explain",
    "mcp_dispatcher",
    "offered_tools",
    "recommend",
    "service_dispatcher",
]
