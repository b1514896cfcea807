"""Errors of the service layer; the API turns each into one HTTP status with its message."""

from __future__ import annotations

from recpilot.errors import RecpilotError


class ServiceError(RecpilotError):
    """Base class of errors a service operation raises on purpose."""


class NotFoundError(ServiceError, LookupError):
    """The session, preference, rule or item does not exist for this tenant (HTTP 404)."""


class AuthenticationError(ServiceError, PermissionError):
    """The API key is missing, malformed, unknown or revoked (HTTP 401)."""


class InvalidRequestError(ServiceError, ValueError):
    """A well-formed request asks for something impossible, e.g. unknown item ids (HTTP 422)."""


class UnavailableError(ServiceError, RuntimeError):
    """A part the operation needs is not available in this deployment (HTTP 503)."""


class ConflictError(ServiceError):
    """The resource is not in the state the request needs, e.g. a job's result before it ended (HTTP 409)."""


class TooManyRequestsError(ServiceError):
    """A capacity limit is reached, e.g. concurrent simulation jobs (HTTP 429)."""
