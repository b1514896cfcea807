"""``python -m recpilot.mcp_server``: the MCP server on stdio (the same options as ``recpilot mcp``)."""

from __future__ import annotations

import sys

from recpilot.cli.app import main

if __name__ == "__main__":
    sys.exit(main(["mcp", *sys.argv[1:]]))
