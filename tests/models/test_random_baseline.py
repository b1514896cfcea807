"""The seeded random baseline: reproducible per user and per history, in the registry, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recpilot.models.base import Histories, Recommender
from recpilot.models.registry import build_model
from recpilot.testing import known_answer_dataset


def test_random_is_a_registry_model_seeded_per_user() -> None:
    data = known_answer_dataset().dataset
    model = build_model("random", seed=3).fit(data)
    users = np.arange(6, dtype=np.int64)
    first, _ = model.recommend_indices(users, k=5)
    again, _ = build_model("random", seed=3).fit(data).recommend_indices(users[::-1].copy(), k=5)
    assert np.array_equal(first, again[::-1])  # a user's ranking ignores the batch it is in
    other, _ = build_model("random", seed=4).fit(data).recommend_indices(users, k=5)
    assert not np.array_equal(first, other)
    assert len({tuple(row) for row in first.tolist()}) > 1  # users get different orders


def test_a_history_ranks_the_same_alone_and_in_a_batch(tmp_path: Path) -> None:
    model = build_model("random", seed=1).fit(known_answer_dataset().dataset)
    n = model.n_items
    rows = [[0, 1], [2], [0, 1]]
    batch, _ = model.recommend_histories(Histories.from_lists(rows, n), k=4)
    alone, _ = model.recommend_histories(Histories.from_lists([rows[2]], n), k=4)
    assert np.array_equal(batch[0], batch[2])
    assert np.array_equal(batch[2], alone[0])
    assert not np.array_equal(batch[0], batch[1])
    loaded = Recommender.load(model.save(tmp_path / "random"))
    assert np.array_equal(loaded.recommend_histories(Histories.from_lists(rows, n), k=4)[0], batch)
