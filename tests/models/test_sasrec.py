import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, DataError
from recpilot.models.base import Recommender
from recpilot.models.registry import build_model
from recpilot.models.sasrec import SASRecRecommender, last_windows, training_pairs
from recpilot.testing import known_answer_dataset

# Small enough to fit the known-answer data in about a second, with enough epochs to learn co-occurrence.
TINY: dict[str, Any] = {
    "hidden": 16,
    "max_len": 8,
    "dropout": 0.1,
    "epochs": 40,
    "batch_size": 16,
    "lr": 5e-3,
    "num_threads": 1,
}


def chain_dataset(n_items: int = 20, n_users: int = 60, length: int = 6, seed: int = 0) -> Dataset:
    """Cyclic chains: item ``i`` is always followed by item ``(i + 1) % n_items``; users start anywhere."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_items, n_users)
    rows = [(f"u{u}", int((start + t) % n_items), t) for u, start in enumerate(starts) for t in range(length)]
    return Dataset.from_frames(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), name="chains")


def test_learns_the_next_item_of_a_chain() -> None:
    n_items = 20
    model = SASRecRecommender(**TINY).fit(chain_dataset(n_items))
    # Histories of two steps ending in i, so the answer depends on order, not on which items were seen.
    hits = sum(
        model.recommend(history=[(i - 1) % n_items, i], k=1, filter_seen=False).ids() == [(i + 1) % n_items]
        for i in range(n_items)
    )
    assert hits >= 0.9 * n_items, f"{hits}/{n_items} chains continued correctly"


@pytest.mark.parametrize(
    "loss",
    [{"loss": "softmax"}, {"loss": "sampled_softmax", "n_negatives": 8}, {"loss": "bce", "epochs": 60}],
    ids=["softmax", "sampled", "bce"],
)
def test_every_loss_learns_the_known_answer(loss: dict[str, Any]) -> None:
    known = known_answer_dataset()
    model = SASRecRecommender(**{**TINY, **loss}).fit(known.dataset)
    assert model.epoch_losses[-1] < model.epoch_losses[0]
    hits = sum(model.recommend(user, k=1).ids() == [missing] for user, missing in known.missing_item.items())
    assert hits / len(known.missing_item) >= 0.9


def test_same_seed_same_scores_and_round_trip(tmp_path: Path) -> None:
    known = known_answer_dataset()
    first = SASRecRecommender(**{**TINY, "epochs": 3}).fit(known.dataset)
    second = SASRecRecommender(**{**TINY, "epochs": 3}).fit(known.dataset)
    users = np.arange(len(first.user_map))
    scores = first._score_users(users)
    np.testing.assert_array_equal(scores, second._score_users(users))
    loaded = Recommender.load(first.save(tmp_path / "model"))
    assert isinstance(loaded, SASRecRecommender)
    np.testing.assert_array_equal(scores, loaded._score_users(users))


def test_seeding_leaves_global_torch_state_alone() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SASRecRecommender(**{**TINY, "epochs": 1}).fit(known_answer_dataset().dataset)
    assert torch.equal(torch.rand(3), expected)


def test_order_matters_for_scores() -> None:
    model = SASRecRecommender(**{**TINY, "epochs": 1}).fit(chain_dataset())
    forward = model.score([0, 1], history=[3, 4])
    backward = model.score([0, 1], history=[4, 3])
    assert not np.allclose(forward, backward)


def test_windows_are_right_aligned_and_truncated() -> None:
    indptr = np.array([0, 3, 4, 9], dtype=np.int64)
    items = np.arange(9, dtype=np.int32)
    windows = last_windows(indptr, items, np.array([2, 0, 1], dtype=np.int64), max_len=4)
    np.testing.assert_array_equal(windows, [[6, 7, 8, 9], [0, 1, 2, 3], [0, 0, 0, 4]])
    inputs, targets = training_pairs(indptr, items, max_len=4)
    # The one-item row yields no pair; the long row keeps its newest four steps.
    np.testing.assert_array_equal(inputs, [[0, 0, 1, 2], [5, 6, 7, 8]])
    np.testing.assert_array_equal(targets, [[0, 0, 2, 3], [6, 7, 8, 9]])


def test_logs_each_epoch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="recpilot.models.sasrec"):
        model = SASRecRecommender(**{**TINY, "epochs": 2}).fit(known_answer_dataset().dataset)
    assert len(model.epoch_losses) == 2
    assert sum("epoch" in record.getMessage() for record in caplog.records) == 2


def test_needs_two_items_per_user_somewhere() -> None:
    single = Dataset.from_frames(pd.DataFrame({"user_id": ["a", "b"], "item_id": [1, 2]}))
    with pytest.raises(DataError, match="two or more"):
        SASRecRecommender(**TINY).fit(single)


def test_config_validation_and_registry() -> None:
    model = build_model({"class": "sasrec", "config": {"epochs": 3}})
    assert isinstance(model, SASRecRecommender)
    assert model.config.loss == "sampled_softmax"
    with pytest.raises(ConfigError, match="n_heads"):
        SASRecRecommender(hidden=30, n_heads=4)
    with pytest.raises(ConfigError, match="loss"):
        SASRecRecommender(loss="hinge")


def test_cuda_without_gpu_is_a_config_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="cuda"):
        SASRecRecommender(**{**TINY, "device": "cuda"}).fit(known_answer_dataset().dataset)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"recpilot\[torch\]"):
        SASRecRecommender()


def test_padding_does_not_change_hidden_states() -> None:
    import torch

    from recpilot.models._sasrec_net import SASRecNet

    torch.manual_seed(0)
    net = SASRecNet(n_items=10, max_len=6, hidden=8, n_blocks=2, n_heads=2, dropout=0.0).eval()
    padded = torch.tensor([[0, 0, 0, 3, 1, 4], [0, 0, 0, 0, 2, 7]])
    with torch.no_grad():
        full = net(padded)
        trimmed = net(padded[:, -3:])
        alone = net(padded[1:, -2:])
    torch.testing.assert_close(full[:, -3:], trimmed)
    torch.testing.assert_close(full[1:, -2:], alone)
    assert not torch.isnan(full).any()
