"""Most-popular baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig


class PopularityConfig(RecommenderConfig):
    """Configuration of :class:`PopularityRecommender`.

    Attributes:
        recent_fraction: If below 1, count only the most recent fraction of interactions (by time),
            which favours items popular *now*.
    """

    recent_fraction: float = Field(default=1.0, gt=0.0, le=1.0)


class PopularityRecommender(Recommender[PopularityConfig]):
    """Ranks items by the number of distinct users who interacted with them."""

    name = "pop"
    config_class = PopularityConfig

    def _fit(self, dataset: Dataset) -> None:
        table = dataset.interactions
        if self.config.recent_fraction < 1.0:
            cutoff = np.quantile(table["timestamp"].to_numpy(), 1.0 - self.config.recent_fraction)
            table = table[table["timestamp"] >= cutoff]
        pairs = table.drop_duplicates(["user_idx", "item_idx"])
        counts = np.bincount(pairs["item_idx"].to_numpy(), minlength=dataset.n_items)
        self._counts = counts.astype(np.float32)

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return np.broadcast_to(self._counts, (len(histories), len(self._counts))).copy()

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return np.broadcast_to(self._counts, (len(users), len(self._counts))).copy()

    def _similar_items(self, item: int) -> npt.NDArray[np.float32]:
        return self._counts.copy()

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"counts": self._counts}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._counts = state["counts"]
