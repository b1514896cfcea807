"""Request dependencies: the service, the caller (API key -> tenant) and the per-key rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recpilot.api.limits import RateLimiter
from recpilot.service import Principal, RecommenderService
from recpilot.service.errors import AuthenticationError

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key issued by `recpilot serve` (or `RecommenderService.create_api_key`).",
)


async def get_service(request: Request) -> RecommenderService:
    """The service the app's lifespan loaded (async: a sync dependency would cost a thread hop)."""
    service: RecommenderService = request.app.state.service
    return service


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind ``Authorization: Bearer <key>``, after taking one token of its rate limit.

    Raises:
        AuthenticationError: No key, or an unknown, malformed or revoked one (HTTP 401).
        HTTPException: 429 with ``Retry-After`` when the key's bucket is empty.
    """
    if credentials is None:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    # Verified keys are cached in memory (see KeyRing), so this rarely touches the database.
    service: RecommenderService = request.app.state.service
    principal = service.authenticate(credentials.credentials)
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(principal.key_id)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=(
                f"rate limit of {limiter.rate_per_s:g} requests/s (burst {limiter.burst}) exceeded for "
                f"API key {principal.key_id}; retry in {wait:.2f} s"
            ),
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    return principal


ServiceDep = Annotated[RecommenderService, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
