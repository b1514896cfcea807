"""A seeded random ranking: the floor any recommender should beat (audits and simulations compare to it)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from recpilot.data.dataset import Dataset
from recpilot.models.base import Histories, Recommender, RecommenderConfig


class RandomConfig(RecommenderConfig):
    """Configuration of :class:`RandomRecommender`.

    Attributes:
        seed: Seed of the scores.
    """

    seed: int = Field(default=0, ge=0)


class RandomRecommender(Recommender[RandomConfig]):
    """Ranks items in a seeded random order per user (or per history).

    A stored user's scores depend only on the seed and the user's index; an ad-hoc history's only on
    the seed and its items, so a history gets the same ranking alone and in a batch.
    """

    name = "random"
    config_class = RandomConfig

    def _fit(self, dataset: Dataset) -> None:
        self._n = dataset.n_items

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        digests = (
            hashlib.blake2b(histories.sequence(row).tobytes(), digest_size=8).digest()
            for row in range(len(histories))
        )
        # a history's entropy is three words long, a user's two: the two kinds never share a stream
        return self._rows([[0, int.from_bytes(d)] for d in digests])

    def _score_users(self, users: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self._rows([[u] for u in users.tolist()])

    def _rows(self, keys: list[list[int]]) -> npt.NDArray[np.float32]:
        rows = [np.random.default_rng([self.config.seed, *key]).random(self._n) for key in keys]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), self._n)

    def _get_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"n_items": np.array([self._n])}

    def _set_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self._n = int(state["n_items"][0])
