"""Requests and responses of the service; the HTTP API uses the same models as its schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from recpilot.agent.types import TraceStep
from recpilot.memory.audit import AuditEntry
from recpilot.memory.base import Preference
from recpilot.memory.feed_rules import FeedRule
from recpilot.types import HardConstraints, Reason

#: Ids never contain NUL characters (PostgreSQL cannot store them).
NO_NUL = r"^[^\x00]*$"
UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


_INT64 = (-(2**63), 2**63 - 1)


def _id_as_text(value: object) -> object:
    # Integers are the ids' old wire form (MovieLens ids are numbers): accepted and read as their text.
    if type(value) is not int:
        return value
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError("an item id given as an integer must fit in 64 bits; send it as text")
    return str(value)


#: An item id in a request: text, or for compatibility an integer (read as its decimal text).
ApiItemId = Annotated[
    str,
    BeforeValidator(_id_as_text),
    StringConstraints(max_length=256, pattern=NO_NUL),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": 256, "pattern": NO_NUL},
                {"type": "integer", "minimum": _INT64[0], "maximum": _INT64[1]},
            ],
            "description": "An item id as text; an integer is accepted and read as its decimal text.",
        },
        mode="validation",
    ),
]
#: An item id in a response: always text, whatever type the catalog's ids have (``"260"``).
ItemIdText = Annotated[str, Field(description='The item id, always as text (e.g. "260").')]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Model):
    """Top-k items for a user (known to the dataset or the tenant's memory) or an ad-hoc history."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "1", "k": 5},
                {"history": ["1", "260"], "k": 5, "constraints": {"attributes": {"genres": ["Comedy"]}}},
            ]
        },
    )

    user_id: UserId | None = None
    history: list[ApiItemId] | None = Field(default=None, max_length=1000)
    k: int = Field(default=10, ge=1, le=1000)
    constraints: HardConstraints | None = None
    exclude: list[ApiItemId] = Field(default_factory=list, max_length=10_000)
    model: str | None = Field(
        default=None,
        max_length=64,
        pattern=NO_NUL,
        description="The ranking: a loaded model's role (collaborative, sequential, content), popularity "
        "or top_rated; default collaborative.",
    )
    explain: bool = Field(default=True, description="Attach the evidence behind each item.")


class ItemOut(_Model):
    """One recommended item: catalog fields, score and the evidence behind it."""

    item_id: ItemIdText
    title: str
    score: float
    attributes: dict[str, Any] = Field(default_factory=dict)
    explanation: str = ""
    reasons: list[Reason] = Field(default_factory=list)


class RecommendResponse(_Model):
    """The ranked items, the model that ranked them and the user they are for."""

    items: list[ItemOut]
    model: str
    user_id: str | None = None


class ExplanationOut(_Model):
    """Why an item suits a user."""

    user_id: str
    item_id: ItemIdText
    title: str
    explanation: str
    reasons: list[Reason]


class SessionCreate(_Model):
    """Start a chat session for a user."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"user_id": "alice"}]})

    user_id: UserId


class SessionOut(_Model):
    """A chat session owned by the caller's tenant."""

    session_id: str
    user_id: str
    created_at: float


class MessageIn(_Model):
    """One user message of a chat session."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"content": "a funny sci-fi movie from the 90s"}]}
    )

    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class MessageOut(_Model):
    """One stored message of a session."""

    role: Literal["user", "assistant", "summary"]
    content: str
    created_at: float


class SessionHistory(_Model):
    """A session's messages, oldest first."""

    session_id: str
    user_id: str
    messages: list[MessageOut]


class ChatReply(_Model):
    """The agent's answer to one message."""

    session_id: str
    reply: str
    items: list[ItemOut]
    degraded: bool
    brain: str
    feed_rules: list[FeedRule] | None = None
    trace: list[TraceStep] = Field(default_factory=list)


FeedbackKind = Literal["impression", "click", "like", "dislike", "rating"]


class FeedbackIn(_Model):
    """One user reaction to an item; likes and dislikes also update the user's profile.

    ``event_id`` makes retries safe: the same id is stored once per tenant.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": "alice", "item_id": "1", "event": "like"}]},
    )

    user_id: UserId
    item_id: ApiItemId
    event: FeedbackKind
    value: float | None = Field(default=None, allow_inf_nan=False)
    session_id: SessionId | None = None
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_NUL)] | None = None


class FeedbackReceipt(_Model):
    """The stored event's id; ``duplicate`` when the ``event_id`` was seen before."""

    id: int
    duplicate: bool = False


class AuditOut(_Model):
    """The audit log of a user's memory writes, newest first: what was stored or removed, when, and on
    whose word (``user turn N``, ``feedback``, ``user (API)``)."""

    user_id: str
    entries: list[AuditEntry]


class ProfileOut(_Model):
    """What the tenant's memory holds about a user."""

    user_id: str
    preferences: list[Preference]
    summary: str
    feed_rules: list[FeedRule] = Field(default_factory=list)


class Deleted(_Model):
    """How many records a delete removed."""

    deleted: int


class Readiness(_Model):
    """Whether the service can answer: the store answers and the models are loaded."""

    ready: bool
    store: bool
    models: list[str]
    dataset: str
    detail: str = ""


class ErrorOut(_Model):
    """An error: what went wrong, in words."""

    detail: str


class FieldError(_Model):
    """One invalid field: where (``["body", "k"]``), what is wrong, and the error type."""

    loc: list[str]
    msg: str
    type: str


class ValidationErrorOut(_Model):
    """A rejected request: a summary naming the fields, and one entry per invalid field."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)


class SimulationRequest(_Model):
    """A simulation job: simulated users meet a recommender page by page (``recpilot simulate``).

    The dataset is the server's; the engine is the calibrated offline one unless the server was
    started with an LLM.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"recommender": "ease", "users": 50, "pages": 5}]}
    )

    recommender: str = Field(
        default="ease", max_length=32, description="A model name: ease, itemknn, als, bpr, pop, content."
    )
    users: int = Field(default=100, ge=1, description="Simulated users (bounded by the server's limit).")
    sessions: int = Field(default=1, ge=1, le=20)
    pages: int = Field(default=10, ge=1, le=100)
    page_size: int = Field(default=10, ge=1, le=100)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    engine: Literal["offline", "llm"] = "offline"


SimulationStatus = Literal["queued", "running", "succeeded", "failed"]


class SimulationJob(_Model):
    """A simulation job's state: ``queued``, ``running``, ``succeeded`` or ``failed`` (with ``error``)."""

    job_id: str
    status: SimulationStatus
    config: SimulationRequest
    users_done: int
    users_total: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


class SimulationOutcome(_Model):
    """A finished job's summary metrics, as ``recpilot simulate --json`` prints them."""

    job_id: str
    result: dict[str, Any]
