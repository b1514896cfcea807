"""What tools work on: the catalog, the fitted models, the user's memory and the turn's candidate set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from recpilot.data.titles import normalise_title as normalise_title
from recpilot.memory.base import ProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.models.base import Recommender
from recpilot.ranking.adjusters import ScoreAdjuster as ScoreAdjuster
from recpilot.ranking.catalog import Catalog as Catalog
from recpilot.ranking.catalog import as_list as as_list
from recpilot.ranking.catalog import plain_value as plain_value
from recpilot.safety.request import UserRequest
from recpilot.types import HardConstraints, ItemId, Reason


@dataclass
class CandidateSet:
    """The turn's working set of items, shared by every tool so no item list travels through the brain.

    Attributes:
        ids: Candidate item ids, or None for "the whole catalog" (nothing filtered yet).
        scores: Soft scores from the last scoring tool (e.g. similarity), by item id.
        reasons: Evidence collected per item (matched constraints, similar items).
        ranked: The final ranking ``(item_id, score)`` once a ranking tool ran.
        ranked_by: The model that produced :attr:`ranked`.
    """

    ids: list[ItemId] | None = None
    scores: dict[ItemId, float] = field(default_factory=dict)
    reasons: dict[ItemId, list[Reason]] = field(default_factory=dict)
    ranked: list[tuple[ItemId, float]] = field(default_factory=list)
    ranked_by: str = ""

    def restrict(self, ids: list[ItemId]) -> None:
        """Keep only candidates in ``ids`` (the first restriction sets the set), preserving order."""
        if self.ids is None:
            self.ids = list(dict.fromkeys(ids))
        else:
            allowed = set(ids)
            self.ids = [i for i in self.ids if i in allowed]
        kept = set(self.ids)
        self.scores = {k: v for k, v in self.scores.items() if k in kept}

    def add_reason(self, item_id: ItemId, reason: Reason) -> None:
        """Attach evidence to an item."""
        self.reasons.setdefault(item_id, []).append(reason)

    def __len__(self) -> int:
        return -1 if self.ids is None else len(self.ids)


@dataclass
class ToolContext:
    """Dependencies and per-turn state every tool receives as its first argument.

    Attributes:
        catalog: Catalog access (store + dataset).
        models: Fitted recommenders by role: ``collaborative``, ``content``, optionally ``sequential``.
        memory: The users' long-term memory.
        user_id: The user of this turn (external id as text).
        candidates: The shared candidate set.
        constraints: Hard constraints gathered from search calls this turn (grounding checks them).
        referenced: Items the user referred to ("like X"), never recommended back.
        dialogue: The session's dialogue state, when the agent keeps one (tools that record
            critiques or answers update it; the agent saves it after the turn).
        score_adjusters: Applied in order by the ranking tool to the scores of every candidate before
            it keeps its top k (feed rules, critiques).
        request: What the user's own message asked for (judged by code); the dispatcher's policy reads
            it. The empty default asks for no write.
    """

    catalog: Catalog
    models: Mapping[str, Recommender[Any]]
    memory: ProfileMemory
    user_id: str
    candidates: CandidateSet = field(default_factory=CandidateSet)
    constraints: HardConstraints = field(default_factory=HardConstraints)
    referenced: list[ItemId] = field(default_factory=list)
    dialogue: DialogueState | None = None
    score_adjusters: list[ScoreAdjuster] = field(default_factory=list)
    request: UserRequest = field(default_factory=UserRequest)

    @cached_property
    def dataset_user(self) -> object | None:
        """The user's id in the training data, or None for a user the models have not seen."""
        return self.catalog.dataset_user(self.user_id)

    def seen_items(self) -> list[ItemId]:
        """Items in the user's training history (empty for users the models have not seen)."""
        if self.dataset_user is None:
            return []
        data = self.catalog.dataset
        return list(
            data.items.to_external(data.user_sequence(data.users.index_of(self.dataset_user))).tolist()
        )

    def liked_items(self) -> list[ItemId]:
        """Items the user said they like (from memory), oldest first, that exist in the catalog."""
        liked = self.memory.profile(self.user_id).values("like_item")
        return [self.catalog.coerce_item_id(v) for v in liked if self.catalog.has_item(v)]

    def disliked_items(self) -> list[ItemId]:
        """Items the user said they dislike."""
        disliked = self.memory.profile(self.user_id).values("dislike_item")
        return [self.catalog.coerce_item_id(v) for v in disliked if self.catalog.has_item(v)]
