"""The FastAPI application factory: lifespan, middleware, error mapping, routers and the page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recpilot import __version__
from recpilot.api.limits import BodyLimitMiddleware
from recpilot.api.metrics import Metrics, MetricsMiddleware
from recpilot.api.redis_limits import make_rate_limiter
from recpilot.api.routes import health, v1
from recpilot.errors import ConfigError, RecpilotError, UnknownIdError
from recpilot.service import RecommenderService, ServiceConfig
from recpilot.service.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TooManyRequestsError,
    UnavailableError,
)

logger = logging.getLogger("recpilot.api")

_STATUS: tuple[tuple[type[RecpilotError], int], ...] = (
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (TooManyRequestsError, 429),
    (InvalidRequestError, 422),
    (UnknownIdError, 422),
    (ConfigError, 422),
    (UnavailableError, 503),
)

#: FastAPI's message when a body cannot be decoded at all (e.g. not UTF-8); answered as a 422.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"

STATIC_DIR = Path(__file__).parent / "web" / "static"


def create_app(
    config: ServiceConfig | None = None,
    *,
    service: RecommenderService | None = None,
    page_api_key: str | None = None,
) -> FastAPI:
    """The recpilot HTTP API.

    Args:
        config: What to serve (dataset, store, LLM, limits); None reads ``RECPILOT_*`` settings.
            With ``service`` given, only its limits are used (None: the service's limits).
        service: An already loaded service (tests share one); the app then does not close it.
        page_api_key: The key ``GET /config.json`` hands to the chat page on loopback.

    Returns:
        The app; the service is loaded (once) when its lifespan starts.
    """
    if service is not None:
        limits = config.limits if config is not None else service.limits
    else:
        config = config if config is not None else ServiceConfig.from_settings()
        limits = config.limits
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = service
        if loaded is None:
            assert config is not None
            loaded = await anyio.to_thread.run_sync(RecommenderService.from_config, config)
        loaded.turn_observers.append(metrics.observe_turn)
        app.state.service = loaded
        try:
            yield
        finally:
            loaded.turn_observers.remove(metrics.observe_turn)
            if service is None:
                loaded.close()

    app = FastAPI(
        title="recpilot",
        version=__version__,
        summary="Agentic recommendations over HTTP: recommend, chat, feedback, profiles.",
        description=(
            "Every `/v1` route needs `Authorization: Bearer <api key>`. Each key belongs to a tenant and "
            "sees only that tenant's users, sessions, memories and feedback. Errors are JSON "
            '`{"detail": "..."}` naming the problem.'
        ),
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.rate_limiter = make_rate_limiter(limits.rate_per_s, limits.burst, limits.redis_url)
    app.state.page_api_key = page_api_key
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(v1.router)
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="web")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def recpilot_error(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        problems = [_describe(error) for error in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        return JSONResponse(
            {"detail": "; ".join(problems) + more, "errors": _plain_errors(errors)}, status_code=422
        )

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
            detail = "malformed JSON in the request body: it could not be decoded (send UTF-8 JSON)"
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(RecpilotError, recpilot_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        return f"malformed JSON in the request body at {where}: {error.get('ctx', {}).get('error', message)}"
    return f"{where}: {message}"


def _plain_errors(errors: object) -> list[dict[str, object]]:
    assert isinstance(errors, list | tuple)
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
        if isinstance(e, dict)
    ]
