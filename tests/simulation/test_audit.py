"""The simulator audit on synthetic data with a known random-exposure truth, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recpilot.cli.app import main
from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import RANDOM_EXPOSURE_TEST
from recpilot.errors import ConfigError
from recpilot.evaluation.unbiased import calibration_summary, random_exposure_likes
from recpilot.simulation.audit import AuditConfig, NoRandomExposureError, run_audit
from recpilot.simulation.audit_report import render_audit_report

N_USERS, N_ITEMS, GENRES = 120, 60, 4


def _truth(rng: np.random.Generator) -> np.ndarray:
    """Like probabilities: high for the user's own genre, low elsewhere."""
    own = (np.arange(N_ITEMS)[None, :] % GENRES) == (np.arange(N_USERS)[:, None] % GENRES)
    return np.where(own, 0.6, 0.06) * rng.uniform(0.7, 1.0, size=(N_USERS, N_ITEMS))


def _rating(rng: np.random.Generator, p: float) -> int:
    return int(rng.integers(4, 6)) if rng.random() < p else int(rng.integers(1, 4))


def random_exposure_dataset(n_random: int = 8, seed: int = 0) -> Dataset:
    """Logged ratings of self-selected items (mostly the own genre) plus ratings of random items."""
    rng = np.random.default_rng(seed)
    truth = _truth(rng)
    logged, random_rows = [], []
    for u in range(N_USERS):
        weights = truth[u] ** 2 / (truth[u] ** 2).sum()  # users pick what they expect to like
        for i in rng.choice(N_ITEMS, 12, replace=False, p=weights).tolist():
            logged.append((u, i, _rating(rng, truth[u, i])))
        for i in rng.choice(N_ITEMS, n_random, replace=False).tolist():
            random_rows.append((u, i, _rating(rng, truth[u, i])))
    items = pd.DataFrame({"item_id": range(N_ITEMS), "genres": [[f"g{i % GENRES}"] for i in range(N_ITEMS)]})
    data = Dataset.from_frames(
        pd.DataFrame(logged, columns=["user_id", "item_id", "rating"]), items, name="synth"
    )
    test = pd.DataFrame(random_rows, columns=["user_id", "item_id", "rating"])
    data.extra[RANDOM_EXPOSURE_TEST] = pd.DataFrame(
        {
            Columns.USER_IDX: data.users.to_internal(test["user_id"]).astype(np.int32),
            Columns.ITEM_IDX: data.items.to_internal(test["item_id"]).astype(np.int32),
            Columns.RATING: test["rating"].to_numpy(np.float32),
            Columns.TIMESTAMP: np.zeros(len(test), dtype=np.int64),
        }
    )
    return data


def coat_folder(tmp_path: Path, data: Dataset) -> Path:
    """``data`` written in the Coat layout (dense train/test matrices, 0 = no rating)."""
    folder = tmp_path / "coat"
    folder.mkdir()
    for name, table in (("train", data.interactions), ("test", data.extra[RANDOM_EXPOSURE_TEST])):
        matrix = np.zeros((N_USERS, N_ITEMS), dtype=int)
        matrix[table[Columns.USER_IDX], table[Columns.ITEM_IDX]] = table[Columns.RATING].astype(int)
        np.savetxt(folder / f"{name}.ascii", matrix, fmt="%d")
    return folder


FAST: dict[str, Any] = {"copies": 2, "n_resamples": 200, "pages": 2, "repeats": 2}


@pytest.fixture(scope="module")
def audit() -> dict[str, object]:
    config = AuditConfig(recommenders=["random", "pop", "itemknn"], **FAST)
    return run_audit(random_exposure_dataset(), config)


def test_audit_ranks_as_the_random_test_and_is_calibrated(audit: dict[str, object]) -> None:
    recs = audit["recommenders"]
    assert isinstance(recs, dict)
    # item-to-item taste beats both baselines on the random test and in simulation
    for outcome in ("unbiased", "simulated"):
        assert recs["itemknn"][outcome] > max(recs["random"][outcome], recs["pop"][outcome])
    calibration = audit["calibration"]
    assert isinstance(calibration, dict)
    assert calibration["auc"] > 0.75
    # the exposure correction moves the like rate from the logged (self-selected) rate towards the random one
    logged = audit["parameters"]["fitted"]["logged_like_rate"]  # type: ignore[index]
    actual, predicted = calibration["actual_like_rate"], calibration["predicted_like_rate"]
    assert abs(predicted - actual) < abs(logged - actual)
    ra = audit["rank_agreement"]
    assert isinstance(ra, dict)
    assert ra["concordant_significant_pairs"] == ra["significant_pairs"] >= 1
    assert ra["spearman_ci"][0] <= ra["spearman"] <= ra["spearman_ci"][1]
    # each recommender's place under resampling: shares over ranks sum to 1, every rank is held once
    for side in ("unbiased", "simulated"):
        shares = np.array([ra["rank_distribution"][side][n] for n in ra["recommenders"]])
        assert shares.shape == (3, 3)
        assert np.allclose(shares.sum(axis=0), 1.0)
        assert np.allclose(shares.sum(axis=1), 1.0)
    # the best by the point estimates is most often 1st under resampling too
    for side in ("unbiased", "simulated"):
        best = max(ra["recommenders"], key=lambda n: recs[n][side])
        assert np.argmax(ra["rank_distribution"][side][best]) == 0


def test_report_shows_both_orderings_and_the_curve(audit: dict[str, object]) -> None:
    html = render_audit_report(audit)
    assert 'id="orderings"' in html
    assert 'id="calibration"' in html
    assert html.count("data:image/png;base64,") == 2


def test_calibration_summary_on_known_predictions() -> None:
    predicted = np.repeat([0.1, 0.9], 1000)
    actual = np.concatenate([np.arange(1000) < 100, np.arange(1000) < 900]).astype(float)
    summary = calibration_summary(predicted, actual)
    assert summary["calibration_error"] == pytest.approx(0.0, abs=1e-9)
    assert summary["predicted_like_rate"] == pytest.approx(summary["actual_like_rate"])
    assert summary["auc"] == pytest.approx(0.9 * 0.9 + 0.5 * (0.9 * 0.1 + 0.1 * 0.9), abs=1e-9)


def test_random_exposure_estimate_is_unbiased() -> None:
    """Averaged over many uniform samples, the estimate equals the likes in the list."""
    rng = np.random.default_rng(0)
    n_items, k, samples = 50, 5, 4000
    likes = rng.random(n_items) < 0.3
    top = np.arange(k)[None, :].repeat(samples, axis=0)
    picks = np.stack([rng.choice(n_items, 8, replace=False) for _ in range(samples)])
    rows = np.repeat(np.arange(samples), 8)
    estimate = random_exposure_likes(top, rows, picks.ravel(), likes[picks.ravel()], n_items)
    assert estimate.mean() == pytest.approx(likes[:k].sum(), rel=0.05)


def test_fewer_than_three_recommenders_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least three distinct recommenders"):
        run_audit(random_exposure_dataset(), AuditConfig(recommenders=["pop", "POP", "ease"]))


def test_a_dotted_class_path_keeps_its_case_and_registry_names_fold() -> None:
    path = "recpilot.models.popularity.PopularityRecommender"
    config = AuditConfig(recommenders=["RANDOM", path, "ItemKNN"], **FAST)
    result = run_audit(random_exposure_dataset(), config)
    assert list(result["recommenders"]) == ["random", path, "itemknn"]
    assert result["recommenders"][path]["unbiased"] is not None  # the class was found and fitted
    assert not result["warnings"]


def test_no_random_exposure_offers_the_temporal_audit() -> None:
    data = random_exposure_dataset()
    data.extra.clear()
    with pytest.raises(NoRandomExposureError, match="--temporal"):
        run_audit(data, AuditConfig(recommenders=["random", "pop", "itemknn"]))


def test_failing_recommender_keeps_partial_labelled_results() -> None:
    config = AuditConfig(recommenders=["random", "pop", "no.such.Model"], **FAST)
    result = run_audit(random_exposure_dataset(), config)
    assert "error" in result["recommenders"]["no.such.Model"]
    assert result["recommenders"]["pop"]["unbiased"] is not None
    assert result["rank_agreement"]["spearman"] is None
    assert any("partial results kept" in w for w in result["warnings"])


def test_tiny_test_set_gives_point_estimates_only() -> None:
    data = random_exposure_dataset()
    test = data.extra[RANDOM_EXPOSURE_TEST]
    data.extra[RANDOM_EXPOSURE_TEST] = test[test[Columns.USER_IDX] < 10]
    result = run_audit(data, AuditConfig(recommenders=["random", "pop", "itemknn"], **FAST))
    assert result["test_users"] == 10
    assert result["rank_agreement"]["spearman"] is not None
    assert result["rank_agreement"]["spearman_ci"] is None
    assert "unbiased_ci" not in result["recommenders"]["pop"]
    assert any("too few for bootstrap" in w for w in result["warnings"])


def test_cli_audit_json_keys_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = coat_folder(tmp_path, random_exposure_dataset())
    report = tmp_path / "audit.html"
    argv = ["simulate", "--audit", "--dataset", str(folder), "--recommenders", "random,pop,itemknn"]
    assert main([*argv, "--json", "--report", str(report)]) == 0
    payload = json.loads(capsys.readouterr().out)
    for key in (
        "kendall",
        "spearman",
        "significant_pairs",
        "concordant_significant_pairs",
        "rank_distribution",
    ):
        assert key in payload["rank_agreement"]
    for key in ("auc", "predicted_like_rate", "actual_like_rate"):
        assert key in payload["calibration"]
    assert set(payload["recommenders"]["pop"]) >= {"unbiased", "simulated"}
    assert report.read_text().startswith("<!doctype html>")


def test_cli_audit_without_random_exposure_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--audit", "--dataset", "ml-latest-small"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--temporal" in err


def test_cli_choice_weight_reaches_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = coat_folder(tmp_path, random_exposure_dataset(seed=1))
    argv = ["simulate", "--audit", "--dataset", str(folder), "--recommenders", "random,pop,itemknn"]
    assert main([*argv, "--choice-weight", "0", "--no-cross-fit", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["parameters"]["assumed"]["choice_weight"] == 0.0
    assert payload["cross_fit"] is None  # cross-fitting is the default; --no-cross-fit turns it off


def test_audit_reports_the_taste_term_and_its_nearest_families(audit: dict[str, object]) -> None:
    """The default simulator's taste is the family consensus; the audit says where each recommender of
    a family in it ranks, in truth and in simulation."""
    assert audit["taste"] == "consensus"
    family = {row["recommender"]: row for row in audit["own_family"]}  # type: ignore[attr-defined]
    assert set(family) == {"pop", "itemknn"}  # the recommenders of this audit that are in it
    for row in family.values():
        assert 1 <= row["unbiased_rank"] <= row["of"] == 3
        assert 1 <= row["simulated_rank"] <= 3


def test_cli_taste_keeps_the_earlier_low_rank_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = coat_folder(tmp_path, random_exposure_dataset(seed=2))
    argv = ["simulate", "--audit", "--dataset", str(folder), "--recommenders", "random,pop,itemknn"]
    assert main([*argv, "--taste", "svd", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["cross_fit"]  # the default
    assert payload["taste"] == "svd"
    assert payload["parameters"]["fitted"]["taste_families"] == ["low_rank"]
    assert [row["recommender"] for row in payload["own_family"]] == ["pop"]
    assert main([*argv, "--taste", "bogus"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--taste" in err
