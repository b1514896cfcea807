"""The MCP server over streamable HTTP: standalone, or mounted in the FastAPI app at ``/mcp``.

An optional API-key check guards the endpoint (``Authorization: Bearer <key>``); the tenant the key
belongs to is left in the request's ASGI state, where each tool call reads it to pick that tenant's
memory (see :func:`recpilot.mcp_server.server.request_tenant`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from recpilot.mcp_server.server import TENANT_STATE_KEY

#: Maps an API key to its tenant, or None when the key is unknown or revoked.
KeyVerifier = Callable[[str], str | None]


class ApiKeyGuard:
    """ASGI middleware: answers 401 unless the request carries a valid ``Authorization: Bearer`` key.

    Args:
        app: The MCP endpoint.
        verify: Key -> tenant (None refuses the key).
    """

    def __init__(self, app: ASGIApp, verify: KeyVerifier) -> None:
        self.app = app
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key, note the tenant, pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        scheme, _, key = headers.get("authorization", "").partition(" ")
        tenant = self.verify(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if tenant is None:
            await _unauthorized(send)
            return
        scope.setdefault("state", {})[TENANT_STATE_KEY] = tenant
        await self.app(scope, receive, send)


def mcp_http_app(
    server: MCPServer, *, path: str = "/mcp", host: str = "127.0.0.1", verify: KeyVerifier | None = None
) -> Starlette:
    """A standalone ASGI app serving ``server`` at ``path`` (run it with uvicorn).

    Args:
        server: The MCP server (see :func:`recpilot.mcp_server.create_mcp_server`).
        path: The endpoint path.
        host: The host it binds; on loopback the SDK also refuses foreign Host/Origin headers.
        verify: API-key check; None leaves the endpoint open.
    """
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    if verify is not None:
        app.router.routes[:] = [_guarded(route, verify) for route in app.router.routes]
    return app


def mount_mcp(
    app: Starlette,
    server: MCPServer,
    *,
    path: str = "/mcp",
    host: str = "127.0.0.1",
    verify: KeyVerifier | None = None,
) -> None:
    """Serve ``server`` at ``path`` of an existing Starlette/FastAPI app, sharing its lifespan.

    The SDK's session manager must run while the app serves, so it is entered in the app's lifespan
    (a mounted sub-app's own lifespan would never run).
    """
    sub_app = mcp_http_app(server, path=path, host=host, verify=verify)
    # In front: the app may mount its static page at "/", which would otherwise swallow the path.
    app.router.routes[0:0] = sub_app.router.routes
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(parent: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), previous(parent) as state:
            yield state

    app.router.lifespan_context = lifespan


def _guarded(route: Any, verify: KeyVerifier) -> Any:
    if isinstance(route, Route):
        return Route(route.path, endpoint=ApiKeyGuard(route.app, verify), methods=None, name=route.name)
    return route


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"detail": "missing or invalid API key: send 'Authorization: Bearer <key>'"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
