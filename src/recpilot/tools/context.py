"""What tools work on: the catalog, the fitted models, the user's memory and the turn's candidate set."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.memory.base import ProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.models.base import Recommender
from recpilot.safety.request import UserRequest
from recpilot.store import CatalogQuery, CatalogStore
from recpilot.types import HardConstraints, ItemId, Reason

_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE_SUFFIX = re.compile(
    r"^(?P<body>.*), (?P<article>the|a|an|les|la|le|il|el|die|der|das)$", re.IGNORECASE
)
_NON_WORD = re.compile(r"[^\w]+")


def normalise_title(title: str) -> str:
    """A comparable form of a title: no year suffix, leading article restored, lower case, no punctuation.

    ``"Matrix, The (1999)"`` and ``"the matrix"`` both become ``"the matrix"``.
    """
    body = _YEAR_SUFFIX.sub("", title.strip())
    moved = _ARTICLE_SUFFIX.match(body)
    if moved:
        body = f"{moved.group('article')} {moved.group('body')}"
    return _NON_WORD.sub(" ", body.lower()).strip()


class Catalog:
    """Read access to the catalog for tools: SQL search through the store, metadata from the dataset.

    Args:
        dataset: The dataset whose catalog and interactions back the store.
        store: The catalog store holding the same dataset.
    """

    def __init__(self, dataset: Dataset, store: CatalogStore) -> None:
        self.dataset = dataset
        self.store = store

    @property
    def name(self) -> str:
        """The dataset name."""
        return self.dataset.name

    def index(self, item_id: ItemId) -> int:
        """Internal index of an item id (ints given as text are accepted)."""
        return self.dataset.items.index_of(self.coerce_item_id(item_id), hint="ids come from search results")

    def coerce_item_id(self, item_id: ItemId) -> ItemId:
        """Match the dataset's id type (``"1"`` -> ``1`` when item ids are integers)."""
        if isinstance(item_id, str) and self._integer_ids and item_id.strip().lstrip("-").isdigit():
            return int(item_id)
        return item_id

    def has_item(self, item_id: ItemId) -> bool:
        """Whether the id is in the catalog."""
        return self.coerce_item_id(item_id) in self.dataset.items

    def title(self, item_id: ItemId) -> str:
        """The display title of an item."""
        return str(self.dataset.catalog[Columns.TITLE].iat[self.index(item_id)])

    def row(self, item_id: ItemId) -> dict[str, Any]:
        """All catalog fields of an item (lists stay lists; missing scalars become None)."""
        record = self.dataset.catalog.iloc[self.index(item_id)].to_dict()
        return {key: plain_value(value) for key, value in record.items()}

    @cached_property
    def _integer_ids(self) -> bool:
        return bool(self.dataset.items.external_ids.dtype.kind in "iu")

    @cached_property
    def _normalised_titles(self) -> dict[str, list[int]]:
        table: dict[str, list[int]] = {}
        for index, title in enumerate(self.dataset.catalog[Columns.TITLE].astype(str)):
            table.setdefault(normalise_title(title), []).append(index)
        return table

    @cached_property
    def popularity(self) -> npt.NDArray[np.float64]:
        """Distinct users per item (internal order)."""
        return self.dataset.item_popularity

    @cached_property
    def rating_score(self) -> npt.NDArray[np.float64]:
        """Bayesian-average rating per item (shrunk towards the global mean), for "top rated" requests."""
        table = self.dataset.interactions
        sums = np.bincount(
            table[Columns.ITEM_IDX], weights=table[Columns.RATING], minlength=self.dataset.n_items
        )
        counts = np.bincount(table[Columns.ITEM_IDX], minlength=self.dataset.n_items).astype(np.float64)
        prior_mean = float(table[Columns.RATING].mean())
        prior_weight = float(np.median(counts[counts > 0])) if (counts > 0).any() else 1.0
        return np.asarray((sums + prior_weight * prior_mean) / (counts + prior_weight), dtype=np.float64)

    def resolve(self, reference: ItemId, *, limit: int = 1) -> list[ItemId]:
        """Item ids a user's reference points to: an id, an exact title, or the best full-text title match.

        Exact (normalised) title matches win, the most popular first; otherwise the store's full-text
        search ranks candidates. Returns an empty list when nothing matches.
        """
        if not isinstance(reference, str) or reference.strip().isdigit():
            return [self.coerce_item_id(reference)] if self.has_item(reference) else []
        key = normalise_title(reference)
        if not key:
            return []
        exact = self._normalised_titles.get(key)
        if exact:
            best = sorted(exact, key=lambda i: -self.popularity[i])[:limit]
            return list(self.dataset.items.to_external(best).tolist())
        hits = self.store.search(CatalogQuery(text=reference, limit=max(5, limit), order_by="relevance"))
        ranked = sorted(hits, key=lambda h: (not normalise_title(h.title).startswith(key), -h.score))
        return [self.coerce_item_id(h.item_id) for h in ranked[:limit]]

    def violations(self, item_id: ItemId, constraints: HardConstraints) -> list[str]:
        """The hard constraints an item breaks, in words (empty when it satisfies all of them)."""
        row = self.row(item_id)
        problems: list[str] = []
        for name, accepted in constraints.attributes.items():
            have = {str(v).lower() for v in as_list(row.get(name))}
            if not have & {a.lower() for a in accepted}:
                problems.append(f"{name} is not one of {accepted}")
        for name, rejected in constraints.exclude_attributes.items():
            have = {str(v).lower() for v in as_list(row.get(name))}
            bad = have & {r.lower() for r in rejected}
            if bad:
                problems.append(f"{name} includes excluded {sorted(bad)}")
        for name, rng in constraints.numeric.items():
            value = row.get(name)
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            if not rng.contains(number):
                problems.append(f"{name}={value} is outside [{rng.min}, {rng.max}]")
        excluded = {str(i) for i in constraints.exclude_items}
        if str(item_id) in excluded:
            problems.append("the item was excluded")
        return problems


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


class ScoreAdjuster(Protocol):
    """Changes a ranking's scores before the ranking tool keeps its top k: drops items (a value left
    out of the result) and moves others. The agent installs the user's feed rules and the session's
    critiques this way (:mod:`recpilot.conversation.feed`, :mod:`recpilot.conversation.critiques`)."""

    def __call__(self, ctx: ToolContext, scores: dict[ItemId, float], /) -> dict[ItemId, float]:
        """The adjusted scores (item id -> score; higher is better)."""
        ...


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
        users = self.catalog.dataset.users
        key: object = self.user_id
        if users.external_ids.dtype.kind in "iu":
            try:
                key = int(self.user_id)
            except ValueError:
                return None
        return key if key in users else None

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


def as_list(value: Any) -> list[Any]:
    """An attribute value as a list (scalars wrapped, missing values, None or NaN, empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return [value]


def plain_value(value: Any) -> Any:
    """A catalog value as plain JSON-able Python (numpy scalars and arrays unwrapped, NaN -> None)."""
    if isinstance(value, list | dict | str):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
