"""Fidelity: the calibrated engine tells held-out liked items from others better than chance."""

from __future__ import annotations

import pytest
from _s1_data import clustered_dataset

from recpilot.data.builtin import load_builtin
from recpilot.simulation.fidelity import FidelityReport, validate


def _assert_beats_chance(report: FidelityReport, margin: float) -> None:
    assert [d.m for d in report.discrimination] == [1, 3, 9]
    for row in report.discrimination:
        assert row.f1 > row.chance_f1 + margin, row
        assert row.precision > row.chance_precision + margin, row
    # the held-out item draws more than its share of a page's clicks
    assert report.heldout_click_share > report.chance_click_share
    assert report.ratings is not None
    assert report.ratings.kl is not None


def test_fidelity_beats_chance_on_structured_synthetic_data() -> None:
    report = validate(clustered_dataset(n_users=120), seed=3)
    _assert_beats_chance(report, margin=0.05)


@pytest.mark.slow
def test_fidelity_beats_chance_on_movielens() -> None:
    report = validate(load_builtin("ml-latest-small"), seed=42)
    _assert_beats_chance(report, margin=0.1)
    assert report.ratings is not None
    assert report.ratings.wasserstein < 0.5  # rating distribution close to the real one
    assert report.popularity.wasserstein < 0.2
