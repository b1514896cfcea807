"""The currency types that cross layer boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One entry of an :class:`ItemList`."""

    item_id: object
    score: float
    rank: int


@dataclass(frozen=True)
class ItemList:
    """A ranked list of items: external ids with their scores, best first.

    This is the one type every recommender returns and every later layer (tools, agent, conversation,
    simulation, API) consumes. Ranks are implied by position (1-based).

    Attributes:
        item_ids: External item ids, best first.
        scores: Model scores aligned with ``item_ids`` (higher is better).
        model: Name of the model that produced the list, for explanations and traces.
    """

    item_ids: npt.NDArray[np.generic]
    scores: npt.NDArray[np.float32]
    model: str = ""

    def __post_init__(self) -> None:
        if len(self.item_ids) != len(self.scores):
            raise ValueError(
                f"ItemList: {len(self.item_ids)} item ids but {len(self.scores)} scores; they must align"
            )

    def __len__(self) -> int:
        return len(self.item_ids)

    def __iter__(self) -> Iterator[ScoredItem]:
        for rank, (item, score) in enumerate(zip(self.item_ids.tolist(), self.scores.tolist(), strict=True)):
            yield ScoredItem(item_id=item, score=float(score), rank=rank + 1)

    def ids(self) -> list[object]:
        """The item ids as plain Python objects, best first."""
        return list(self.item_ids.tolist())

    def to_records(self) -> list[dict[str, object]]:
        """JSON-ready records ``{"item_id", "score", "rank"}``."""
        return [{"item_id": s.item_id, "score": s.score, "rank": s.rank} for s in self]

    @classmethod
    def empty(cls, model: str = "") -> ItemList:
        """An empty list."""
        return cls(np.array([], dtype=np.int64), np.array([], dtype=np.float32), model)
