"""The one interface every recommender implements.

Public methods validate input, map external ids and keep the books; subclasses fill private hooks:

- :meth:`Recommender._fit` (required): learn from a :class:`~recpilot.data.Dataset`.
- :meth:`Recommender._score_histories` (required): score every item for a batch of item histories.
- :meth:`Recommender._score_users`: score known users (defaults to scoring their training history).
- :meth:`Recommender._similar_items`: item-to-item scores (defaults to scoring a one-item history).
- :meth:`Recommender._get_state` / :meth:`Recommender._set_state`: arrays for save and load.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpilot.data.dataset import Dataset
from recpilot.data.idmap import IdMap
from recpilot.errors import ConfigError, DataError, NotFittedError
from recpilot.models import batch, persistence, scoring
from recpilot.models.config import ConfigT, RecommenderConfig, make_config
from recpilot.models.histories import Histories
from recpilot.models.persistence import FORMAT, FORMAT_VERSION, resolve_model_class
from recpilot.models.ranking import rank_row
from recpilot.types import ItemList

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ConfigT",
    "Histories",
    "Recommender",
    "RecommenderConfig",
    "resolve_model_class",
]


class Recommender(ABC, Generic[ConfigT]):
    """Base class of all recommenders.

    Args:
        config: The typed configuration; when omitted it is built from ``overrides``.
        **overrides: Configuration fields, validated by the model's ``config_class``.

    Class attributes:
        name: Registry name (``"ease"``); used in reports and specs.
        config_class: The pydantic configuration model.
    """

    name: ClassVar[str] = "recommender"
    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig

    def __init__(self, config: ConfigT | None = None, **overrides: Any) -> None:
        self.config: ConfigT = make_config(self.name, self.config_class, config, overrides)  # type: ignore[assignment]
        self.fit_seconds: float | None = None
        self.trained_on: str | None = None
        self._items: IdMap | None = None
        self._users: IdMap | None = None
        self._seen: sp.csr_matrix | None = None
        self._user_histories: Histories | None = None
        self._popularity: npt.NDArray[np.float32] | None = None
        self._kept: dict[int, npt.NDArray[np.float32]] = {}

    # -- hooks for subclasses -------------------------------------------------------------------------

    @abstractmethod
    def _fit(self, dataset: Dataset) -> None:
        """Learn the model's parameters from ``dataset``."""

    @abstractmethod
    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        """Scores ``(len(histories), n_items)`` for ad-hoc histories; rows are never empty."""

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Scores ``(len(users), n_items)`` for known users (internal indices) with training history."""
        return self._score_histories(self._histories_of(users))

    def _score_users_at(
        self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Scores ``(len(users), len(items))`` of internal ``items`` for known users with training
        history: the same values as those columns of :meth:`_score_users` (a model that can score a
        few items for less than the whole catalog overrides it)."""
        return self._score_users(users)[:, items]

    def _score_histories_at(
        self, histories: Histories, items: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Scores ``(len(histories), len(items))`` of internal ``items``: the same values as those columns
        of :meth:`_score_histories` (overridden where a few items cost less than the catalog)."""
        return self._score_histories(histories)[:, items]

    def _similar_items(self, item: int) -> npt.NDArray[np.float32]:
        """Scores ``(n_items,)`` of every item's similarity to ``item``."""
        scores: npt.NDArray[np.float32] = self._score_histories(Histories.from_lists([[item]], self.n_items))[
            0
        ]
        return scores

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        """The learned arrays, for :meth:`save`."""
        return {}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        """Restore the learned arrays saved by :meth:`_get_state`."""

    # -- fitting ----------------------------------------------------------------------------------------

    def fit_memory_bytes(self, dataset: Dataset) -> int | None:
        """Peak memory a fit on ``dataset`` needs, where the model can tell before fitting (else None)."""
        return None

    def fit(self, dataset: Dataset) -> Self:
        """Fit the model on ``dataset`` and return it."""
        if dataset.n_interactions == 0:
            raise DataError(f"cannot fit {self.name!r} on dataset {dataset.name!r}: it has no interactions")
        start = time.perf_counter()
        self._items = dataset.items
        self._users = dataset.users
        self._seen = dataset.matrix("binary")
        indptr, items = dataset.sequences
        self._user_histories = Histories(indptr, items, dataset.n_items)
        self._popularity = dataset.item_popularity.astype(np.float32)
        self._kept = {}
        self._fit(dataset)
        self.fit_seconds = time.perf_counter() - start
        self.trained_on = dataset.source or dataset.name
        return self

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return self._items is not None

    @property
    def n_items(self) -> int:
        """Size of the item space."""
        return len(self._require_items())

    @property
    def item_map(self) -> IdMap:
        """External <-> internal item ids of the fitted model."""
        return self._require_items()

    @property
    def user_map(self) -> IdMap:
        """External <-> internal user ids of the fitted model."""
        self._require_items()
        assert self._users is not None
        return self._users

    # -- recommending -----------------------------------------------------------------------------------

    def recommend(
        self,
        user: object | None = None,
        *,
        history: Sequence[object] | None = None,
        k: int = 10,
        exclude: Iterable[object] = (),
        candidates: Iterable[object] | None = None,
        filter_seen: bool = True,
    ) -> ItemList:
        """Top-``k`` items for a known user or for an ad-hoc history.

        Args:
            user: External id of a user seen in training. Unknown users raise
                :class:`~recpilot.errors.UnknownIdError`; pass ``history`` for them instead.
            history: External item ids the (possibly new) user interacted with, oldest first. An empty
                history is the cold-start path: items are ranked by popularity.
            k: How many items to return (fewer when fewer are eligible).
            exclude: External item ids never to return (unknown ids are ignored).
            candidates: If given, rank only these external item ids (unknown ids raise).
            filter_seen: Drop items already in the user's history.
        """
        _check_k(k)
        scores, seen = self._scores_for_one(user, history)
        return rank_row(
            scores,
            self.item_map,
            k,
            seen=seen if filter_seen else None,
            exclude=exclude,
            candidates=candidates,
            model=self.name,
        )

    def score(
        self,
        items: Sequence[object],
        user: object | None = None,
        *,
        history: Sequence[object] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Scores of ``items`` (external ids) for a known user or an ad-hoc history."""
        scores, _ = self._scores_for_one(user, history)
        index = self.item_map.to_internal(items, hint="score() takes ids from the training catalog")
        return scores[index].astype(np.float32)

    def score_at(
        self,
        items: npt.ArrayLike,
        user: object | None = None,
        *,
        history: Sequence[object] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Scores of internal item indices ``items``: the values :meth:`score` gives for their ids,
        computed for those items only where the model can (the fast path for ranking a candidate pool).

        Raises:
            ConfigError: An index outside the model's items, or not exactly one of ``user`` / ``history``.
        """
        return scoring.pool_scores(self, items, user, history)

    def keep_heavy_users(self, *, min_history: int = 1000, budget_bytes: int = 64 * 2**20) -> int:
        """Compute now, and keep, the scores of the known users with the longest training histories.

        Scoring costs time proportional to the history (EASE streams one row of weights per item:
        ~4 ms for 1,000 items on ml-latest-small), while a user's training row and the fitted model
        never change, so these rows stay exact until the next :meth:`fit`. The service and the agent
        call this at start-up (:func:`recpilot.agent.runtime.build_runtime`), so a heavy user's first
        request is as fast as anyone's. Remembered likes or an ad-hoc history are scored as before.

        Args:
            min_history: Keep users with at least this many training items.
            budget_bytes: The most memory the kept rows may take (the longest histories first).

        Returns:
            How many users' scores are kept.
        """
        return scoring.keep_heavy_users(self, min_history, budget_bytes)

    def similar_items(self, item: object, *, k: int = 10, exclude: Iterable[object] = ()) -> ItemList:
        """The ``k`` items most similar to ``item`` according to this model (the item itself excluded)."""
        _check_k(k)
        index = self.item_map.index_of(item, hint="similar_items() takes an id from the catalog")
        scores = self._similar_items(index).astype(np.float32, copy=True)
        scores[index] = -np.inf
        return rank_row(
            scores, self.item_map, k, seen=None, exclude=exclude, candidates=None, model=self.name
        )

    def recommend_indices(
        self,
        users: npt.ArrayLike,
        k: int = 10,
        *,
        filter_seen: bool = True,
        candidates: npt.NDArray[np.int64] | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Batch top-``k`` over internal user indices: the fast path for evaluation.

        Args:
            users: Internal user indices.
            k: List length.
            filter_seen: Mask each user's training items.
            candidates: Optional ``(n_users, c)`` internal item indices: rank only these per user
                (the sampled-negatives protocol).

        Returns:
            ``(items, scores)``, each ``(n_users, k)``, padded with -1 / -inf.
        """
        _check_k(k)
        return batch.recommend_users(self, users, k, filter_seen=filter_seen, candidates=candidates)

    def recommend_histories(
        self,
        histories: Histories,
        k: int = 10,
        *,
        exclude: Histories | None = None,
        filter_seen: bool = True,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Batch top-``k`` for ad-hoc histories: :meth:`recommend` with ``history`` for many rows at once.

        Args:
            histories: One history per row, internal item indices, oldest first; an empty row gets
                the cold-start (popularity) ranking, as in :meth:`recommend`.
            k: List length.
            exclude: Internal item indices never to return, one row per history.
            filter_seen: Mask each row's history items.

        Returns:
            ``(items, scores)``, each ``(rows, k)``, padded with -1 / -inf.
        """
        _check_k(k)
        return batch.recommend_histories(self, histories, k, exclude=exclude, filter_seen=filter_seen)

    # -- persistence -------------------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """The ``{"class", "config"}`` spec that rebuilds this (unfitted) model."""
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "config": self.config.model_dump(),
        }

    def save(self, path: str | Path) -> Path:
        """Save the fitted model to directory ``path`` (``model.json`` + ``state.npz``; no pickle)."""
        return persistence.save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Recommender[Any]:
        """Load a model saved by :meth:`save` (the concrete class is read from ``model.json``)."""
        return persistence.load_model(cls, path)

    # -- internals -----------------------------------------------------------------------------------------

    def _require_items(self) -> IdMap:
        if self._items is None:
            raise NotFittedError(f"model {self.name!r} is not fitted: call fit(dataset) or load(path) first")
        return self._items

    def _require_seen(self) -> sp.csr_matrix:
        self._require_items()
        assert self._seen is not None
        return self._seen

    def _require_popularity(self) -> npt.NDArray[np.float32]:
        self._require_items()
        assert self._popularity is not None
        return self._popularity

    def _histories_of(self, users: npt.NDArray[np.int64]) -> Histories:
        assert self._user_histories is not None
        source = self._user_histories
        return Histories.from_lists([source.sequence(int(u)) for u in users], source.n_items)

    def _cold_scores(self, n_rows: int) -> npt.NDArray[np.float32]:
        popularity = self._require_popularity()
        return np.broadcast_to(popularity, (n_rows, len(popularity))).astype(np.float32)

    def _scores_for_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Scores for known users (cold ones: popularity; kept heavy ones: their kept row)."""
        return scoring.users_scores(self, users)

    def _scores_for_one(
        self, user: object | None, history: Sequence[object] | None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Scores for one known user or ad-hoc history, and the internal items it has seen."""
        return scoring.request_scores(self, user, history)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({fields})"


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
