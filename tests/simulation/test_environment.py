"""Recommender adapters and the page guard: failures are recorded, never raised."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _s1_data import clustered_dataset

from recpilot.models.registry import build_model
from recpilot.simulation.environment import CatalogGuard, ModelRecommender, parse_item_ids


class _Fixed:
    def __init__(self, answer: object = None, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.answer, self.delay, self.error = answer, delay, error

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.answer  # type: ignore[return-value]


def _fetch(
    rec: object, exclude: list[str] | None = None, timeout: float = 1.0
) -> tuple[list[str], list[str]]:
    guard = CatalogGuard(np.array([str(i) for i in range(1, 21)], dtype=object))
    return asyncio.run(guard.fetch_page(rec, "u", [], 5, exclude or [], timeout))  # type: ignore[arg-type]


def test_clean_answer_passes() -> None:
    assert _fetch(_Fixed(["1", "2", "3"])) == (["1", "2", "3"], [])


def test_exception_and_timeout_are_recorded() -> None:
    ids, errors = _fetch(_Fixed(error=RuntimeError("boom")))
    assert ids == []
    assert "RuntimeError: boom" in errors[0]
    ids, errors = _fetch(_Fixed(["1"], delay=0.5), timeout=0.05)
    assert ids == []
    assert "timed out" in errors[0]


def test_duplicates_unknown_excluded_and_overlong_are_dropped() -> None:
    ids, errors = _fetch(_Fixed(["1", "1", "999", "2", "3", "4", "5", "6", "7"]), exclude=["3"])
    assert ids == ["1", "2", "4", "5", "6"]
    text = " | ".join(errors)
    assert "duplicate ids: 1" in text
    assert "unknown ids: 999" in text
    assert "excluded ids: 3" in text
    assert "6 items for a page of 5" in text
    ids, errors = _fetch(_Fixed("not a list"))
    assert ids == []
    assert "expected a list" in errors[0]


def test_parse_item_ids_accepts_the_documented_shapes() -> None:
    assert parse_item_ids([1, "2"]) == ["1", "2"]
    assert parse_item_ids({"items": [{"item_id": 3}, {"id": 4}]}) == ["3", "4"]
    with pytest.raises(ValueError, match="JSON list"):
        parse_item_ids({"nothing": 1})


def test_model_recommender_single_and_batch_agree() -> None:
    data = clustered_dataset()
    rec = ModelRecommender(build_model("ease").fit(data))
    assert rec.same_space(data.users.external_ids, data.items.external_ids)
    batch = rec.rank_batch(np.array([0, 1], dtype=np.int64), 5)
    single = asyncio.run(rec.arecommend("1", [], 5, []))
    assert single == [str(i) for i in data.items.external_ids[batch[0]]]
    excluded = asyncio.run(rec.arecommend("1", [], 5, single[:2]))
    assert excluded[:3] == single[2:5]
