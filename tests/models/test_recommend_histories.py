"""``Recommender.recommend_histories``: the batched ad-hoc path equals ``recommend(history=...)`` row by row.

Run over every model of the registry (sasrec only when torch is installed), on the known-answer data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recpilot.errors import ConfigError
from recpilot.models.base import Histories, Recommender
from recpilot.models.registry import available_models, build_model
from recpilot.testing import known_answer_dataset

_SMALL = {"sasrec": {"epochs": 2}, "als": {"factors": 8}, "bpr": {"factors": 8}}


def _fitted(name: str) -> Recommender[Any]:
    if name == "sasrec":
        pytest.importorskip("torch")
    data = known_answer_dataset().dataset
    try:
        model = build_model(name, **_SMALL.get(name, {}))
    except ConfigError:
        model = build_model(name)
    return model.fit(data)


@pytest.mark.parametrize("name", available_models())
def test_batched_histories_match_the_single_history_path(name: str) -> None:
    model = _fitted(name)
    n_items = model.n_items
    rng = np.random.default_rng(3)
    rows = [rng.choice(n_items, size=size, replace=False) for size in (0, 1, 3, 6, 2)]
    excluded = [rng.choice(n_items, size=2, replace=False) for _ in rows]
    items, scores = model.recommend_histories(
        Histories.from_lists(rows, n_items), k=5, exclude=Histories.from_lists(excluded, n_items)
    )
    assert items.shape == (len(rows), 5)
    external = model.item_map.external_ids
    for row, (history, banned) in enumerate(zip(rows, excluded, strict=True)):
        single = model.recommend(history=list(external[history]), k=5, exclude=list(external[banned]))
        np.testing.assert_allclose(scores[row], single.scores, rtol=1e-4, atol=1e-5)
        got = items[row]
        assert not set(got.tolist()) & (set(history.tolist()) | set(banned.tolist()))
        if len(np.unique(np.round(single.scores, 4))) == 5:  # no near-ties: the order is defined
            assert list(external[got]) == single.ids()


def test_unfiltered_history_and_wrong_shapes() -> None:
    model = _fitted("itemknn")
    n = model.n_items
    history = Histories.from_lists([[0, 1]], n)
    items, _ = model.recommend_histories(history, k=n, filter_seen=False)
    assert {0, 1} <= set(items[0].tolist())
    with pytest.raises(ConfigError, match="one row per history"):
        model.recommend_histories(history, exclude=Histories.from_lists([[0], [1]], n))
    with pytest.raises(ConfigError, match="items"):
        model.recommend_histories(Histories.from_lists([[0]], n + 1))
