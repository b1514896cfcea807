"""Liveness, readiness, Prometheus metrics and the page's loopback-only configuration."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from recpilot.api.deps import ServiceDep
from recpilot.api.metrics import CONTENT_TYPE_LATEST, Metrics
from recpilot.service.schemas import ErrorOut, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the store answers and the models are loaded",
    responses={503: {"model": Readiness, "description": "Not ready (the body says why)."}},
)
def readyz(service: ServiceDep) -> Response:
    """200 when ready, 503 with the reason otherwise."""
    state = service.readiness()
    return JSONResponse(state.model_dump(mode="json"), status_code=200 if state.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Request counts and latency per route, agent turn latency (Prometheus text format)."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/config.json",
    summary="The chat page's API key (loopback clients only)",
    include_in_schema=False,
    responses={404: {"model": ErrorOut}},
)
def page_config(request: Request) -> dict[str, str]:
    """``{"api_key", "api_base"}`` for the page served by ``recpilot serve``; 404 unless the client is
    on loopback, the ``Host`` it asked for is a loopback name (a rebound DNS name is not), and the
    request is same-origin (a page of another site cannot read the key), or when the server was started
    without a page key."""
    key: str | None = request.app.state.page_api_key
    client = request.client.host if request.client is not None else ""
    host = request.headers.get("host", "")
    if key is None or not _is_loopback(client) or not _is_loopback(_hostname(host)):
        raise HTTPException(status_code=404, detail="not found")
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if (origin is not None and urlsplit(origin).netloc.lower() != host.lower()) or site not in (
        None,
        "same-origin",
        "none",
    ):
        raise HTTPException(status_code=404, detail="not found")
    return {"api_key": key, "api_base": "/v1"}


def _hostname(host: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8000`` -> ``::1``, ``localhost:8000`` -> ``localhost``)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
