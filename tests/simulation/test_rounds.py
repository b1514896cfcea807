"""Periodic retraining: clicks flow back into the training data, each round is measured and reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _s1_data import clustered_dataset

from recpilot.data.columns import Columns
from recpilot.errors import ConfigError
from recpilot.simulation.journal import records_to_frames
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.report import write_report
from recpilot.simulation.rounds import feedback_interactions, run_rounds
from recpilot.simulation.types import (
    Page,
    PageDecision,
    SessionRecord,
    ShownItem,
    SimAction,
    SimulationConfig,
)


def test_rounds_feed_clicks_back_and_are_reported(tmp_path: Path) -> None:
    dataset = clustered_dataset()
    engine = OfflineEngine(seed=3).fit(dataset)
    config = SimulationConfig(
        users=20,
        sessions=1,
        pages=3,
        page_size=5,
        seed=3,
        recommender="itemknn",
        output_dir=str(tmp_path / "out"),
    )
    table = run_rounds(config, 3, dataset=dataset, engine=engine)
    assert table["round"].tolist() == [0, 1, 2]
    assert table["coverage"].between(0, 1).all()
    assert table["entropy"].between(0, 1).all()
    for number, row in table.iterrows():
        items = pd.read_parquet(tmp_path / "out" / f"round-{number:02d}" / "items.parquet")
        assert row["new_interactions"] == (items["action"] == "click").sum()
        assert row["coverage"] == pytest.approx(items["item_id"].nunique() / dataset.n_items)
    html = write_report(tmp_path / "out", tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<section id="rounds">' in html


def test_clicks_become_interactions_of_the_real_users() -> None:
    dataset = clustered_dataset(n_users=4, n_items=40, per_user=5)
    page = Page(
        session=0, index=0, items=[ShownItem(item_id="1", position=0), ShownItem(item_id="2", position=1)]
    )
    decision = PageDecision(
        actions=[
            SimAction(kind="click", item_id="1", position=0),
            SimAction(kind="rate", item_id="1", position=0, rating=5.0),
            SimAction(kind="click", item_id="2", position=1),
        ]
    )
    record = SessionRecord(user_id="3#1", session=0, pages=[page], decisions=[decision])
    items, sessions = records_to_frames("r", [("3", record)])
    added = feedback_interactions(items, sessions, dataset)
    user = dataset.users.to_internal(pd.Series([3]))[0]
    assert added[Columns.USER_IDX].tolist() == [user, user]
    assert dataset.items.external_ids[added[Columns.ITEM_IDX]].tolist() == [1, 2]
    own_mean = dataset.interactions.loc[dataset.interactions[Columns.USER_IDX] == user, Columns.RATING].mean()
    assert added[Columns.RATING].tolist() == pytest.approx([5.0, own_mean])
    assert (added[Columns.TIMESTAMP] > dataset.interactions[Columns.TIMESTAMP].max()).all()


def test_only_models_can_be_retrained() -> None:
    config = SimulationConfig(users=2, pages=1, recommender="http://127.0.0.1:9/rec")
    with pytest.raises(ConfigError, match="refits a model"):
        run_rounds(
            config, 2, dataset=clustered_dataset(), engine=OfflineEngine(seed=1).fit(clustered_dataset())
        )
    with pytest.raises(ConfigError, match="at least 1 round"):
        run_rounds(config, 0)
