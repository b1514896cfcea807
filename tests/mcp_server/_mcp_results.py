"""Reading MCP tool results in the tests: the structured data of a success, the text of an error."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult


def result_data(result: CallToolResult) -> dict[str, Any]:
    """The ``data`` of a successful call's structured content (fails the test on an error)."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    data = result.structured_content["data"]
    assert isinstance(data, dict)
    return data


def error_text(result: CallToolResult) -> str:
    """The text of a failed call (fails the test on a success)."""
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)
