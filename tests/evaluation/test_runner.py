"""The evaluation runner and the ranking protocols, on the known-answer dataset."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from recpilot.data import Dataset, Split, leave_last_out
from recpilot.errors import ConfigError
from recpilot.evaluation import (
    RANKING_METRICS,
    EvaluationReport,
    FullRanking,
    SampledNegatives,
    evaluate,
    multi_hot,
    ranking_protocol,
)
from recpilot.models import Histories, PopularityRecommender, Recommender, RecommenderConfig
from recpilot.testing import known_answer_dataset

RANKING_KEYS = {f"{name}@10" for name in RANKING_METRICS}
BEYOND_KEYS = {"coverage", "novelty", "arp", "gini"}
TIMING_KEYS = {"fit_seconds", "recommend_seconds"}


class CooccurrenceRecommender(Recommender[RecommenderConfig]):
    """A tiny personalised model: items that co-occur with the user's history score higher."""

    name = "cooc"

    def _fit(self, dataset: Dataset) -> None:
        matrix = dataset.matrix("binary")
        self._cooccurrence = (matrix.T @ matrix).toarray().astype(np.float32)

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        return np.asarray(histories.csr @ self._cooccurrence, dtype=np.float32)


class BrokenRecommender(Recommender[RecommenderConfig]):
    """Fails while fitting, as a buggy model would."""

    name = "broken"

    def _fit(self, dataset: Dataset) -> None:
        raise RuntimeError("out of memory while factorising")

    def _score_histories(self, histories: Histories) -> npt.NDArray[np.float32]:
        raise AssertionError("never called")


@pytest.fixture(scope="module")
def split() -> Split:
    return leave_last_out(known_answer_dataset().dataset)


@pytest.fixture(scope="module")
def report(split: Split) -> EvaluationReport:
    models: dict[str, Recommender[Any]] = {
        "pop": PopularityRecommender(),
        "cooc": CooccurrenceRecommender(),
        "broken": BrokenRecommender(),
    }
    return evaluate(models, split, n_bootstrap=300)


def test_report_json_shape(report: EvaluationReport, split: Split) -> None:
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == {"dataset", "protocol", "ranking", "k", "n_users", "models"}
    assert data["dataset"] == "known-answer"
    assert data["protocol"] == "leave-last-out"
    assert data["ranking"] == "full-ranking"
    assert data["k"] == 10
    assert data["n_users"] == len(split.test_users)
    assert list(data["models"]) == ["pop", "cooc", "broken"]
    for name in ("pop", "cooc"):
        figures = data["models"][name]
        assert set(figures) == RANKING_KEYS | BEYOND_KEYS | TIMING_KEYS | {"ci"}
        assert set(figures["ci"]) == RANKING_KEYS
        for metric, (low, high) in figures["ci"].items():
            assert low <= figures[metric] <= high, (name, metric)
        assert figures["fit_seconds"] >= 0.0
        assert figures["recommend_seconds"] >= 0.0
        assert 0.0 < figures["coverage"] <= 1.0


def test_failing_model_is_reported_not_raised(report: EvaluationReport) -> None:
    broken = report.to_dict()["models"]["broken"]
    assert broken["error"] == "RuntimeError: out of memory while factorising"
    assert "ndcg@10" not in broken
    with pytest.raises(ConfigError, match="failed"):
        report.per_user("broken")


def test_personalised_model_beats_popularity(report: EvaluationReport) -> None:
    pop, cooc = report.result("pop").metrics, report.result("cooc").metrics
    # The held-out item is in the user's taste group; co-occurrence ranks group items first.
    assert cooc["ndcg@10"] > pop["ndcg@10"]
    assert cooc["hr@10"] == pytest.approx(1.0)
    assert report.compare("cooc", "pop", "ndcg@10").significant()
    # Popularity gives everyone nearly the same list: less coverage, more popular items.
    assert pop["coverage"] < cooc["coverage"]
    assert pop["arp"] > cooc["arp"]


def test_per_user_frame(report: EvaluationReport, split: Split) -> None:
    frame = report.per_user("cooc")
    assert list(frame.columns[:2]) == ["user_idx", "user_id"]
    assert set(frame.columns[2:]) == RANKING_KEYS
    assert len(frame) == len(split.test_users)
    np.testing.assert_array_equal(frame["user_idx"], split.test_users)
    assert frame["user_id"].iloc[0] == split.train.users.to_external(split.test_users[:1])[0]
    for metric in RANKING_KEYS:
        assert frame[metric].mean() == pytest.approx(report.result("cooc").metrics[metric])
    with pytest.raises(ConfigError, match="no model named"):
        report.per_user("ease")


def test_per_user_frame_of_all_models(report: EvaluationReport, split: Split) -> None:
    frame = report.per_user_frame()
    assert list(frame.columns[:3]) == ["model", "user_idx", "user_id"]
    # The failed model has no rows; the two others one row per test user each.
    assert frame["model"].value_counts().to_dict() == {
        "pop": len(split.test_users),
        "cooc": len(split.test_users),
    }
    pop_rows = frame[frame["model"] == "pop"].drop(columns="model").reset_index(drop=True)
    pd.testing.assert_frame_equal(pop_rows, report.per_user("pop"))


def test_table_rows(report: EvaluationReport) -> None:
    rows = report.to_table()
    assert [row["model"] for row in rows] == ["pop", "cooc", "broken"]
    assert all(set(row) == set(rows[0]) for row in rows)
    assert rows[2]["error"].startswith("RuntimeError")
    assert rows[2]["ndcg@10"] is None
    assert rows[1]["ndcg@10"] == report.result("cooc").metrics["ndcg@10"]


def test_sampled_protocol_is_labelled_and_scores_higher(split: Split) -> None:
    full = evaluate({"pop": PopularityRecommender()}, split, n_bootstrap=0)
    sampled = evaluate(
        {"pop": PopularityRecommender()}, split, protocol=SampledNegatives(n_negatives=10), n_bootstrap=0
    )
    assert sampled.to_dict()["ranking"] == "sampled-10-uniform"
    assert full.to_dict()["ranking"] == "full-ranking"
    # Ranking among fewer candidates can only move each relevant item up.
    full_users, sampled_users = full.per_user("pop"), sampled.per_user("pop")
    assert (sampled_users["ndcg@10"] >= full_users["ndcg@10"] - 1e-12).all()
    assert sampled.result("pop").metrics["ndcg@10"] > full.result("pop").metrics["ndcg@10"]
    assert sampled.result("pop").ci == {}


def test_several_cutoffs_features_and_progress(split: Split) -> None:
    messages: list[str] = []
    features = multi_hot(split.train.catalog["genres"])
    result = evaluate(
        {"cooc": CooccurrenceRecommender()},
        split,
        k=(10, 5),
        metrics=("ndcg", "recall"),
        n_bootstrap=50,
        item_features=features,
        progress=messages.append,
    )
    data = result.to_dict()
    assert data["k"] == [5, 10]
    figures = data["models"]["cooc"]
    assert {"ndcg@5", "ndcg@10", "recall@5", "recall@10", "ild"} <= set(figures)
    assert "mrr@10" not in figures
    assert 0.0 <= figures["ild"] <= 1.0
    assert any("fitting" in message for message in messages)
    assert any("recommending" in message for message in messages)


def test_prefitted_model_is_not_refitted(split: Split) -> None:
    model = PopularityRecommender().fit(split.train)
    recorded = model.fit_seconds
    result = evaluate({"pop": model}, split, n_bootstrap=0)
    assert result.result("pop").fit_seconds == recorded


def test_model_fitted_on_other_items_is_an_error(split: Split) -> None:
    other = known_answer_dataset(n_groups=2).dataset
    result = evaluate({"pop": PopularityRecommender().fit(other)}, split, n_bootstrap=0)
    assert "fitted on other items" in str(result.result("pop").error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "positive integer"),
        ({"metrics": ("auc",)}, "unknown ranking metric"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"item_features": np.ones((3, 2))}, "one row per item"),
    ],
)
def test_invalid_arguments(split: Split, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate({"pop": PopularityRecommender()}, split, **kwargs)


# -- protocols ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_negatives", [10, 20, 100])
def test_sampled_candidates_are_valid(split: Split, n_negatives: int) -> None:
    # 10 uses rejection sampling, 20 the exact sampler (few eligible items), 100 more than exist.
    users, truth = split.test_users, split.truth()
    candidates = SampledNegatives(n_negatives=n_negatives, seed=1).candidates(split, users, truth)
    history = split.train.matrix("binary")[users]
    n_items = split.train.n_items
    for row in range(len(users)):
        relevant = set(truth[row].indices.tolist())
        listed = set(candidates[row].tolist())
        negatives = listed - relevant
        assert relevant <= listed
        assert not negatives & set(history[row].indices.tolist())
        eligible = n_items - len(relevant | set(history[row].indices.tolist()))
        assert len(negatives) == min(n_negatives, eligible)


def test_sampled_candidates_are_seeded(split: Split) -> None:
    users, truth = split.test_users, split.truth()
    first = SampledNegatives(n_negatives=10, seed=3).candidates(split, users, truth)
    again = SampledNegatives(n_negatives=10, seed=3).candidates(split, users, truth)
    other = SampledNegatives(n_negatives=10, seed=4).candidates(split, users, truth)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_popularity_weighted_negatives_favour_popular_items() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 400, 200
    # Item popularity falls steeply with the item index; the last 20 items are never interacted with.
    weights = 1.0 / np.arange(1, n_items - 19) ** 1.2
    items = rng.choice(n_items - 20, size=n_users * 6, p=weights / weights.sum())
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(n_users), 6), "item_id": items})
    catalog = pd.DataFrame({"item_id": np.arange(n_items)})
    split = leave_last_out(Dataset.from_frames(frame, catalog))
    users, truth = split.test_users, split.truth()
    protocol = SampledNegatives(n_negatives=30, seed=0, weighting="popularity")
    assert protocol.label == "sampled-30-popularity"
    # Leave-last-out: one relevant item per user in column 0, the negatives after it.
    negatives = protocol.candidates(split, users, truth)[:, 1:]
    counts = np.bincount(negatives.ravel(), minlength=n_items)
    popularity = split.train.item_popularity
    assert counts[popularity == 0].sum() == 0
    top, tail = np.argsort(-popularity)[:20], np.flatnonzero(popularity > 0)[-50:]
    assert counts[top].mean() > 5 * counts[tail].mean()
    uniform = SampledNegatives(n_negatives=30, seed=0).candidates(split, users, truth)
    assert np.isin(uniform, np.flatnonzero(popularity == 0)).any()


def test_protocol_labels_round_trip() -> None:
    for protocol in (
        FullRanking(),
        SampledNegatives(),
        SampledNegatives(n_negatives=7, weighting="popularity"),
    ):
        assert ranking_protocol(protocol.label) == protocol
    assert ranking_protocol("sampled-50") == SampledNegatives(n_negatives=50)
    with pytest.raises(ConfigError, match="sampled-N"):
        ranking_protocol("sampled-0")
    with pytest.raises(ConfigError, match="full-ranking"):
        ranking_protocol("leave-one-out")
    with pytest.raises(ValueError, match="n_negatives"):
        SampledNegatives(n_negatives=0)
