"""The ``/v1`` routes; each is a thin call into :class:`~recpilot.service.RecommenderService`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from recpilot.api.deps import PrincipalDep, ServiceDep, get_principal
from recpilot.service import ChatEvent, Principal, RecommenderService
from recpilot.service.schemas import (
    NO_NUL,
    AuditOut,
    ChatReply,
    Deleted,
    ErrorOut,
    ExplanationOut,
    FeedbackIn,
    FeedbackReceipt,
    MessageIn,
    ProfileOut,
    RecommendRequest,
    RecommendResponse,
    SessionCreate,
    SessionHistory,
    SessionOut,
    SimulationJob,
    SimulationOutcome,
    SimulationRequest,
    ValidationErrorOut,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked API key."},
    413: {"model": ErrorOut, "description": "Request body over the size limit."},
    422: {"model": ValidationErrorOut, "description": "Malformed JSON, wrong types or impossible values."},
    429: {"model": ErrorOut, "description": "Rate limit exceeded; see `Retry-After`."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Not found for this tenant."}
}
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The agent's answer as JSON, or as server-sent events with "
        "`Accept: text/event-stream`, each sent as the agent makes it: `step` (the agent's plan, "
        "tool_call, tool_result, fallback, rolled_back or other step event, its `kind` saying which), "
        "then `item` (one per item), `reply` and `done` once the turn is stored; a failed turn ends "
        'with `error` (`{"detail": ...}`) and no item.',
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}

router = APIRouter(prefix="/v1", dependencies=[Depends(get_principal)], responses=_ERRORS)

UserPath = Annotated[
    str, Path(min_length=1, max_length=256, pattern=NO_NUL, description="The user's id in your tenant.")
]
SessionPath = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="A session id.")]


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    summary="Top-k recommendations for a user or an ad-hoc history",
    tags=["recommendations"],
)
async def recommend(body: RecommendRequest, principal: PrincipalDep, service: ServiceDep) -> Response:
    """Rank the catalog for ``user_id`` (their dataset history and remembered likes) or for ``history``,
    keep items satisfying ``constraints`` and the user's feed rules, drop ``exclude`` and the user's
    dislikes, and explain each (``explain: false`` skips the evidence)."""
    # Runs on the event loop: a cached ranking answers in well under a millisecond, less than a
    # worker-thread hop costs. The response is serialised once by pydantic-core (no re-validation).
    response = service.recommend(principal.tenant_id, body)
    return Response(response.model_dump_json(), media_type="application/json")


@router.get(
    "/users/{user_id}/explanations/{item_id}",
    response_model=ExplanationOut,
    summary="Why an item suits a user",
    tags=["recommendations"],
    responses=_NOT_FOUND,
)
def explain(
    user_id: UserPath,
    item_id: Annotated[str, Path(min_length=1, max_length=256, pattern=NO_NUL)],
    principal: PrincipalDep,
    service: ServiceDep,
) -> ExplanationOut:
    """The evidence linking ``item_id`` to the user's history and remembered likes."""
    return service.explain(principal.tenant_id, user_id, item_id)


@router.post(
    "/sessions",
    response_model=SessionOut,
    status_code=201,
    summary="Start a chat session",
    tags=["chat"],
)
def create_session(body: SessionCreate, principal: PrincipalDep, service: ServiceDep) -> SessionOut:
    """A new session owned by your tenant; send messages to it with ``POST /v1/sessions/{id}/messages``."""
    return service.create_session(principal.tenant_id, body)


@router.get(
    "/sessions/{session_id}/messages",
    response_model=SessionHistory,
    summary="A session's messages",
    tags=["chat"],
    responses=_NOT_FOUND,
)
def history(session_id: SessionPath, principal: PrincipalDep, service: ServiceDep) -> SessionHistory:
    """The stored user and assistant messages, oldest first."""
    return service.history(principal.tenant_id, session_id)


@router.post(
    "/sessions/{session_id}/messages",
    response_model=ChatReply,
    summary="Send a message (JSON answer, or server-sent events with Accept: text/event-stream)",
    tags=["chat"],
    responses={**_NOT_FOUND, **_SSE_DOC},
)
async def send_message(
    session_id: SessionPath,
    body: MessageIn,
    principal: PrincipalDep,
    service: ServiceDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """One agent turn. The turn runs to completion and is stored as a whole, even if the client leaves."""
    if accept is not None and "text/event-stream" in accept:
        return _stream(service, principal, session_id, body)
    return await service.asend(principal.tenant_id, session_id, body)


@router.post(
    "/sessions/{session_id}/messages/stream",
    summary="Send a message and stream the answer as server-sent events",
    tags=["chat"],
    response_class=EventSourceResponse,
    responses={**_NOT_FOUND, **_SSE_DOC},
)
async def stream_message(
    session_id: SessionPath, body: MessageIn, principal: PrincipalDep, service: ServiceDep
) -> EventSourceResponse:
    """Events, each sent as it happens: ``step`` per plan, tool call, tool result or other step of the
    turn, ``item`` per recommended item, ``reply`` (text), ``done``; ``error`` if the turn fails."""
    return _stream(service, principal, session_id, body)


def _stream(
    service: RecommenderService, principal: Principal, session_id: str, body: MessageIn
) -> EventSourceResponse:
    # Checked before the response starts, so an unknown session is a plain 404, not a broken stream.
    service.session_user(principal.tenant_id, session_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        event: ChatEvent
        async for event in service.stream(principal.tenant_id, session_id, body):
            yield ServerSentEvent(data=event.data, event=event.event)

    return EventSourceResponse(events(), ping=15)


@router.post(
    "/feedback",
    response_model=FeedbackReceipt,
    status_code=202,
    summary="Record a user's reaction to an item",
    tags=["feedback"],
    responses=_NOT_FOUND,
)
def feedback(body: FeedbackIn, principal: PrincipalDep, service: ServiceDep) -> FeedbackReceipt:
    """Impressions, clicks, likes, dislikes and ratings; likes and dislikes update the user's profile.
    A repeated ``event_id`` is stored once."""
    return service.feedback(principal.tenant_id, body)


@router.get(
    "/users/{user_id}/profile",
    response_model=ProfileOut,
    summary="What is remembered about a user",
    tags=["profiles"],
)
def profile(user_id: UserPath, principal: PrincipalDep, service: ServiceDep) -> ProfileOut:
    """Preferences, the profile summary and feed rules (empty for a user your tenant never saw)."""
    return service.profile(principal.tenant_id, user_id)


@router.get(
    "/users/{user_id}/audit",
    response_model=AuditOut,
    summary="The log of a user's memory writes",
    tags=["profiles"],
)
def audit(user_id: UserPath, principal: PrincipalDep, service: ServiceDep) -> AuditOut:
    """Every write to the user's memory (newest first), with its provenance, including the writes of
    refused turns that were rolled back."""
    return service.audit(principal.tenant_id, user_id)


@router.delete(
    "/users/{user_id}/preferences/{preference_id}",
    response_model=Deleted,
    summary="Forget one preference",
    tags=["profiles"],
    responses=_NOT_FOUND,
)
def delete_preference(
    user_id: UserPath,
    preference_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
    principal: PrincipalDep,
    service: ServiceDep,
) -> Deleted:
    """Delete one remembered preference."""
    return service.delete_preference(principal.tenant_id, user_id, preference_id)


@router.delete(
    "/users/{user_id}/feed-rules/{rule_id}",
    response_model=Deleted,
    summary="Remove one feed rule",
    tags=["profiles"],
    responses=_NOT_FOUND,
)
def delete_feed_rule(
    user_id: UserPath,
    rule_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
    principal: PrincipalDep,
    service: ServiceDep,
) -> Deleted:
    """Delete one standing instruction ("no more horror")."""
    return service.delete_feed_rule(principal.tenant_id, user_id, rule_id)


@router.delete(
    "/users/{user_id}",
    response_model=Deleted,
    summary="Forget everything about a user",
    tags=["profiles"],
)
def forget_user(user_id: UserPath, principal: PrincipalDep, service: ServiceDep) -> Deleted:
    """Delete the user's preferences, summary, sessions, feed rules and feedback in your tenant."""
    return service.forget_user(principal.tenant_id, user_id)


JobPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="A simulation job id.")
]


@router.post(
    "/simulations",
    response_model=SimulationJob,
    status_code=202,
    summary="Start a simulation job",
    tags=["simulations"],
)
def start_simulation(body: SimulationRequest, principal: PrincipalDep, service: ServiceDep) -> SimulationJob:
    """Simulated users meet a recommender page by page on the served dataset, in the background;
    poll ``GET /v1/simulations/{id}``. 422 over the users limit, 429 when the server runs its limit of
    jobs."""
    return service.simulations.submit(principal.tenant_id, body)


@router.get(
    "/simulations/{job_id}",
    response_model=SimulationJob,
    summary="A simulation job's status and progress",
    tags=["simulations"],
    responses=_NOT_FOUND,
)
def simulation(job_id: JobPath, principal: PrincipalDep, service: ServiceDep) -> SimulationJob:
    """``queued``, ``running`` (users done of total), ``succeeded`` or ``failed`` with the reason (a job
    interrupted by a server restart is ``failed``; submit it again, the seed reproduces it)."""
    return service.simulations.job(principal.tenant_id, job_id)


@router.get(
    "/simulations/{job_id}/result",
    response_model=SimulationOutcome,
    summary="A finished simulation's summary metrics",
    tags=["simulations"],
    responses={**_NOT_FOUND, 409: {"model": ErrorOut, "description": "The job has not succeeded."}},
)
def simulation_result(job_id: JobPath, principal: PrincipalDep, service: ServiceDep) -> SimulationOutcome:
    """CTR, ratings, session length, exit and completion rates, coverage, diversity, as
    ``recpilot simulate --json`` prints them."""
    return service.simulations.result(principal.tenant_id, job_id)
