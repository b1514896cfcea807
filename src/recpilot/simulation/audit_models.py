"""The recommenders an audit compares: the model registry's, plus a seeded random baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig
from recpilot.models.registry import build_model


class RandomConfig(RecommenderConfig):
    """Configuration of :class:`RandomRecommender`.

    Attributes:
        seed: Seed of the scores; a user's scores depend only on it and the user's row.
    """

    seed: int = Field(default=0, ge=0)


class RandomRecommender(Recommender[RandomConfig]):
    """Ranks items in a seeded random order per user: the floor any recommender should beat."""

    name = "random"
    config_class = RandomConfig

    def _fit(self, dataset: Dataset) -> None:
        self._n = dataset.n_items

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return self._rows(np.arange(len(histories)))

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._rows(users)

    def _rows(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        rows = [np.random.default_rng([self.config.seed, int(k)]).random(self._n) for k in keys.tolist()]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), self._n)


def build_audit_model(name: str, *, seed: int = 0) -> Recommender[Any]:
    """``random`` or any name :func:`recpilot.models.registry.build_model` accepts, unfitted."""
    if name == "random":
        return RandomRecommender(seed=seed)
    return build_model(name)
