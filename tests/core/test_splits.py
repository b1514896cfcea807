"""Seeded splits: every protocol keeps the id maps and separates train from test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recpilot.data import Dataset, leave_last_out, random_holdout, split_dataset, temporal_split
from recpilot.errors import ConfigError


@pytest.fixture
def data() -> Dataset:
    rng = np.random.default_rng(3)
    rows = [
        (u, int(i), 1.0, int(t))
        for u in range(40)
        for t, i in enumerate(rng.choice(200, size=5 + u % 6, replace=False))
    ]
    table = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    table["timestamp"] += table["user_id"] * 3  # users active at different times
    return Dataset.from_frames(table.sample(frac=1.0, random_state=1))  # file order is not time order


def test_leave_last_out_holds_out_each_users_latest(data: Dataset) -> None:
    split = leave_last_out(data)
    assert len(split.test) == data.n_users
    full = data.interactions
    for user in range(data.n_users):
        last_time = full[full["user_idx"] == user]["timestamp"].max()
        held = split.test[split.test["user_idx"] == user]
        assert held["timestamp"].item() == last_time
    assert split.train.n_interactions + len(split.test) == data.n_interactions
    assert split.train.items is data.items
    assert split.train.users is data.users
    assert split.truth().shape == (data.n_users, data.n_items)


def test_temporal_split_uses_one_cutoff(data: Dataset) -> None:
    split = temporal_split(data, test_fraction=0.25)
    assert split.train.interactions["timestamp"].max() < split.test["timestamp"].min()
    assert 0.15 < len(split.test) / data.n_interactions < 0.35


def test_random_holdout_is_seeded_and_keeps_a_training_item(data: Dataset) -> None:
    first = random_holdout(data, test_fraction=0.3, seed=7)
    again = random_holdout(data, test_fraction=0.3, seed=7)
    other = random_holdout(data, test_fraction=0.3, seed=8)
    assert first.test.equals(again.test)
    assert not first.test.equals(other.test)
    train_counts = np.diff(first.train.matrix().indptr)
    assert (train_counts >= 1).all()


def test_latest_per_user_holds_out_each_users_latest_and_keeps_one(data: Dataset) -> None:
    split = split_dataset(data, "latest-per-user", test_fraction=0.25)
    assert split.protocol == "latest-per-user(0.25)"
    full = data.interactions
    for user in range(data.n_users):
        mine = full[full["user_idx"] == user]
        held = split.test[split.test["user_idx"] == user]
        assert len(held) == max(1, int(len(mine) * 0.25))  # every user gives at least one
        kept = split.train.interactions
        assert held["timestamp"].min() >= kept[kept["user_idx"] == user]["timestamp"].max()
    # a user with two interactions gives the later one, and the earlier stays in train
    pair = Dataset.from_frames(
        pd.DataFrame({"user_id": [1, 1], "item_id": [5, 6], "rating": [1.0, 1.0], "timestamp": [9, 3]})
    )
    tiny = split_dataset(pair, "latest-per-user")
    assert tiny.test["timestamp"].tolist() == [9]
    assert tiny.train.interactions["timestamp"].tolist() == [3]


def test_split_dataset_rejects_unknown_protocols_and_fractions(data: Dataset) -> None:
    with pytest.raises(ConfigError, match="unknown split protocol"):
        split_dataset(data, "sideways")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        random_holdout(data, test_fraction=1.5)
