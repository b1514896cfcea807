"""The transport-free service layer the HTTP API and the MCP server share.

:class:`RecommenderService` answers recommendations, chat turns, feedback and profile requests for
many tenants over one loaded runtime; its requests and responses (:mod:`recpilot.service.schemas`)
are the API's schemas. All state lives in the store's database (:mod:`recpilot.service.storage`).
"""

from recpilot.service.config import LimitsConfig, ServiceConfig
from recpilot.service.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServiceError,
    TooManyRequestsError,
    UnavailableError,
)
from recpilot.service.keys import IssuedKey, KeyRing, Principal, default_key_path
from recpilot.service.service import ChatEvent, RecommenderService
from recpilot.service.tenancy import TenantMemory

__all__ = [
    "AuthenticationError",
    "ChatEvent",
    "ConflictError",
    "InvalidRequestError",
    "IssuedKey",
    "KeyRing",
    "LimitsConfig",
    "NotFoundError",
    "Principal",
    "RecommenderService",
    "ServiceConfig",
    "ServiceError",
    "TenantMemory",
    "TooManyRequestsError",
    "UnavailableError",
    "default_key_path",
]
