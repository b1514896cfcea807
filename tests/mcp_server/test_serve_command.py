"""``recpilot serve`` as a real process: readiness, the page, the API and the MCP endpoint, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from recpilot.service import RecommenderService

pytestmark = pytest.mark.anyio


def _announcement(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "}":
        line = process.stdout.readline()
        assert line, f"serve exited early: {process.stderr.read() if process.stderr else ''}"
        lines.append(line.rstrip("\n"))
    payload: dict[str, Any] = json.loads("\n".join(lines))
    return payload


async def test_serve_process(service: RecommenderService, mcp_home: Path) -> None:
    # The service fixture cached the fitted models under mcp_home; the process only loads them.
    process = subprocess.Popen(
        [sys.executable, "-c", "from recpilot.cli.app import run; run()", "serve", "--port", "0", "--json"],
        env={**os.environ, "RECPILOT_HOME": str(mcp_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        urls = _announcement(process)
        base = urls["page"].rstrip("/")
        assert urls["mcp"] == f"{base}/mcp"
        assert urls["api_docs"] == f"{base}/docs"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)
        page = httpx2.get(urls["page"])
        assert page.status_code == 200
        assert "<title>recpilot chat</title>" in page.text
        auth = {"Authorization": f"Bearer {urls['api_key']}"}
        assert httpx2.get(f"{base}/config.json").json()["api_key"] == urls["api_key"]
        recommended = httpx2.post(f"{base}/v1/recommend", json={"user_id": "1", "k": 3}, headers=auth)
        assert recommended.status_code == 200, recommended.text
        assert len(recommended.json()["items"]) == 3
        assert httpx2.post(f"{base}/mcp", json={}).status_code == 401
        async with Client(
            streamable_http_client(urls["mcp"], http_client=create_mcp_http_client(auth))
        ) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("recommend", {"user_id": "1", "k": 2})
        assert {"recommend", "explain", "search_catalog"} <= names
        assert not result.is_error
        assert result.structured_content is not None
        assert len(result.structured_content["data"]["items"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, process.stderr.read() if process.stderr else ""
    # The default key is kept for the next start (owner-only file), not issued anew each time.
    (kept,) = (mcp_home / "keys").glob("default-*.key")
    assert kept.read_text().strip() == urls["api_key"]
    assert kept.stat().st_mode & 0o077 == 0
