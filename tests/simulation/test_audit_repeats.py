"""Repeated audits: outcomes averaged over repetitions, and significance that counts their spread."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_audit import FAST, coat_folder, random_exposure_dataset

from recpilot.cli.app import main
from recpilot.simulation.audit import AuditConfig, run_audit
from recpilot.simulation.audit_agreement import rank_agreement
from recpilot.simulation.audit_folds import repeat_seed


def _pair(result: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    return next(p for p in result["pairs"] if {p["a"], p["b"]} == {a, b})


def test_a_difference_one_split_makes_is_not_significant() -> None:
    """``steady`` beats ``low`` in every repetition; ``flip`` beats ``steady`` by a margin its users
    agree on within each repetition, but in opposite directions from one repetition to the next."""
    rng = np.random.default_rng(0)
    repeats, users = 4, 300
    noise = rng.normal(0.0, 0.05, size=(repeats, users))
    base = rng.uniform(1.0, 2.0, size=users)[None, :] + noise
    flip = base + np.array([1.0, -0.8, 1.1, -0.9])[:, None]  # mean ahead of steady, sign flips per split
    low = base - 1.0
    sim = {"low": 0.1, "steady": 0.3, "flip": 0.2}
    per_user = {
        name: (values, np.full((repeats, users), sim[name]) + rng.normal(0.0, 0.01, size=(repeats, users)))
        for name, values in (("low", low), ("steady", base), ("flip", flip))
    }
    config = AuditConfig(recommenders=list(per_user), n_resamples=400)
    result = rank_agreement(per_user, config, [], enough_users=True)
    assert abs(_pair(result, "flip", "steady")["unbiased_difference"]) == pytest.approx(0.1)
    assert not _pair(result, "flip", "steady")["significant"]  # users alone would call it significant
    assert _pair(result, "low", "steady")["significant"]
    assert result["significant_pairs"] == result["concordant_significant_pairs"] == 2
    assert result["ties_in_simulation"] == 0


def test_a_significant_pair_the_simulator_cannot_separate_is_a_tie() -> None:
    rng = np.random.default_rng(1)
    users = 200
    truth = {"a": 3.0, "b": 2.0, "c": 1.0}
    sim = {"a": 0.30, "b": 0.30, "c": 0.10}  # a and b: the same simulated outcome up to noise
    per_user = {
        n: (truth[n] + rng.normal(0, 0.3, size=(2, users)), sim[n] + rng.normal(0, 0.2, size=(2, users)))
        for n in truth
    }
    result = rank_agreement(per_user, AuditConfig(recommenders=list(truth)), [], enough_users=True)
    assert result["significant_pairs"] == 3
    assert _pair(result, "a", "b")["tied_in_simulation"]
    assert result["ties_in_simulation"] == 1


def test_repeat_seeds_start_at_the_audit_seed_and_differ() -> None:
    seeds = [repeat_seed(7, r) for r in range(6)]
    assert seeds[0] == 7
    assert len(set(seeds)) == 6
    assert seeds == [repeat_seed(7, r) for r in range(6)]


def test_repetitions_average_the_single_audits_of_their_seeds() -> None:
    """Repetition r of an audit seeded s is the one-repetition audit seeded ``repeat_seed(s, r)``."""
    data = random_exposure_dataset(seed=3)
    fast = {**FAST, "repeats": 1}
    names = ["random", "pop", "itemknn"]
    twice = run_audit(data, AuditConfig(recommenders=names, **{**fast, "repeats": 2}, seed=5))
    first = run_audit(data, AuditConfig(recommenders=names, **fast, seed=5))
    second = run_audit(data, AuditConfig(recommenders=names, **fast, seed=repeat_seed(5, 1)))
    assert twice["repeats"] == 2
    for name in names:
        for outcome in ("unbiased", "simulated"):
            mean = (first["recommenders"][name][outcome] + second["recommenders"][name][outcome]) / 2
            assert twice["recommenders"][name][outcome] == pytest.approx(mean)
    # the second repetition is another split and other seeds, not a copy of the first
    assert first["recommenders"]["random"]["unbiased"] != second["recommenders"]["random"]["unbiased"]


def test_cli_repeats_below_one_is_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    folder = coat_folder(tmp_path, random_exposure_dataset())
    argv = ["simulate", "--audit", "--dataset", str(folder), "--recommenders", "random,pop,itemknn"]
    assert main([*argv, "--repeats", "0"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--repeats" in err
