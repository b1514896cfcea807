"""What the ranking pipeline is asked: :class:`RankingRequest`, with item ids as text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recpilot.memory.base import UserProfile
from recpilot.models.base import Recommender
from recpilot.types import HardConstraints

#: Models whose scores mean something other than "people with tastes like yours".
_ROLE_BY_MODEL = {"pop": "popularity", "content": "content", "sasrec": "sequential"}


class RankingRequest(BaseModel):
    """What to rank, for whom. Item ids are text (the catalog's ids as written).

    Attributes:
        user_id: The user; a user the models have not seen ranks by ``history`` and ``liked``, or by
            popularity when both are empty.
        history: Items the user interacted with beyond their own dataset history, oldest first
            (unknown ids are an error).
        liked: Items the user said they like (from memory); added to the history, unknown ids ignored.
        disliked: Items the user said they dislike: never returned.
        k: How many items.
        exclude: Items never to return.
        constraints: Hard constraints every item must satisfy (catalog search); ``exclude_items`` are
            never returned.
        model: The ranking: a fitted model's role (collaborative, sequential, content), popularity or
            top_rated.
        exclude_seen: Drop the items of the history (the dataset history, ``history`` and ``liked``).
        similarity_weight: Weight of the candidates' soft scores against the model's (0 to 1).
        explain: Attach the reasons of each item.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str | None = None
    history: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    k: int = Field(default=10, ge=1)
    exclude: tuple[str, ...] = ()
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    model: str = "collaborative"
    exclude_seen: bool = True
    similarity_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    explain: bool = True


def role_of(model: Recommender[Any]) -> str:
    """The ranking role a model plays when it is the only one (``recpilot recommend --model``)."""
    return _ROLE_BY_MODEL.get(model.name, "collaborative")


def ids_as_text(ids: Iterable[object]) -> tuple[str, ...]:
    """Item ids as the pipeline takes them (text), from ids of any type."""
    return tuple(str(i) for i in ids)


def likes_of(
    profile: UserProfile | None, now: float | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A remembered profile's active liked and disliked item ids, as text, for a :class:`RankingRequest`."""
    if profile is None:
        return (), ()
    active = [p for p in profile.preferences if p.active(now)]
    liked = ids_as_text(p.value for p in active if p.kind == "like_item")
    disliked = ids_as_text(p.value for p in active if p.kind == "dislike_item")
    return liked, disliked
