"""Cross-fitting halves of the audit: disjoint, balanced per user, every user on both sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_audit import FAST, random_exposure_dataset

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import random_exposure_split
from recpilot.simulation.audit import AuditConfig, run_audit
from recpilot.simulation.audit_folds import cross_fit_folds, logged_halves


def _pairs(data: Dataset) -> set[tuple[int, int]]:
    table = data.interactions
    return set(zip(table[Columns.USER_IDX].tolist(), table[Columns.ITEM_IDX].tolist(), strict=True))


def test_halves_are_disjoint_balanced_and_keep_every_user() -> None:
    logged = [(u, i, 4) for u in range(6) for i in range(u + 1)]  # user u has u + 1 interactions
    data = Dataset.from_frames(pd.DataFrame(logged, columns=["user_id", "item_id", "rating"]), name="t")
    a, b = logged_halves(data, seed=3)
    pa, pb = _pairs(a), _pairs(b)
    single = {(0, 0)}  # user 0's only interaction stays on both sides
    assert pa & pb == single
    assert pa | pb == _pairs(data)
    count_a = np.bincount(a.interactions[Columns.USER_IDX], minlength=6)
    count_b = np.bincount(b.interactions[Columns.USER_IDX], minlength=6)
    assert (count_a >= 1).all()
    assert (count_b >= 1).all()
    assert (np.abs(count_a - count_b)[1:] <= 1).all()
    assert _pairs(logged_halves(data, seed=3)[0]) == pa  # seeded
    assert any(_pairs(logged_halves(data, seed=s)[0]) != pa for s in range(4, 10))


def test_folds_swap_the_roles_and_keep_the_whole_test() -> None:
    split = random_exposure_split(random_exposure_dataset())
    (sim_a, rec_a), (sim_b, rec_b) = cross_fit_folds(split, seed=0)
    assert _pairs(sim_a) == _pairs(rec_b.train)
    assert _pairs(sim_b) == _pairs(rec_a.train)
    assert not _pairs(sim_a) & _pairs(rec_a.train)
    assert rec_a.test is split.test


def test_cross_fitted_audit_reports_and_still_ranks() -> None:
    config = AuditConfig(recommenders=["random", "pop", "itemknn"], cross_fit=True, **FAST)
    result = run_audit(random_exposure_dataset(), config)
    assert result["cross_fit"]
    recs = result["recommenders"]
    for outcome in ("unbiased", "simulated"):
        assert recs["itemknn"][outcome] > recs["random"][outcome]
    assert result["calibration"]["auc"] > 0.75  # calibration: the simulator fitted on the whole log
