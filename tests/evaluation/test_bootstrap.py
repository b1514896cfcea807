"""Bootstrap confidence intervals and the paired bootstrap test."""

from __future__ import annotations

import numpy as np
import pytest

from recpilot.errors import ConfigError
from recpilot.evaluation import bootstrap
from recpilot.evaluation.bootstrap import (
    bootstrap_ci,
    bootstrap_cis,
    bootstrap_means,
    bootstrap_means_crossed,
    paired_bootstrap,
)


def per_user_values(n: int, seed: int = 0) -> np.ndarray:
    """Skewed, bounded per-user values, like a ranking metric."""
    return np.random.default_rng(seed).beta(0.5, 2.0, size=n)


def test_interval_contains_the_mean_and_matches_the_normal_approximation() -> None:
    values = per_user_values(4000)
    ci = bootstrap_ci(values, n_resamples=1000, confidence=0.95, seed=1)
    assert ci.mean == pytest.approx(values.mean())
    assert ci.low < ci.mean < ci.high
    # For a mean over many users the percentile interval is close to mean +- 1.96 standard errors.
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert (ci.high - ci.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert ci.bounds() == [ci.low, ci.high]


def test_interval_narrows_with_more_users() -> None:
    small = bootstrap_ci(per_user_values(100), seed=0)
    large = bootstrap_ci(per_user_values(10_000), seed=0)
    # Width shrinks like 1 / sqrt(n): 100x the users, about a tenth of the width.
    assert (large.high - large.low) < (small.high - small.low) / 5


def test_higher_confidence_gives_a_wider_interval() -> None:
    values = per_user_values(500)
    narrow = bootstrap_ci(values, confidence=0.5, seed=0)
    wide = bootstrap_ci(values, confidence=0.99, seed=0)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_seeded_and_reproducible() -> None:
    values = per_user_values(300)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


def test_shared_resamples_across_metrics_and_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = per_user_values(257, seed=1), per_user_values(257, seed=2)
    together = bootstrap_means(np.stack([a, b], axis=1), n_resamples=40, seed=9)
    np.testing.assert_allclose(together[:, 0], bootstrap_means(a, n_resamples=40, seed=9))
    np.testing.assert_allclose(together[:, 1], bootstrap_means(b, n_resamples=40, seed=9))
    monkeypatch.setattr(bootstrap, "_COUNT_BUDGET", 257 * 3)  # blocks of three resamples
    np.testing.assert_allclose(bootstrap_means(a, n_resamples=40, seed=9), together[:, 0])
    cis = bootstrap_cis({"a": a, "b": b}, n_resamples=40, seed=9)
    assert list(cis) == ["a", "b"]
    alone = bootstrap_ci(a, n_resamples=40, seed=9)
    assert [cis["a"].mean, cis["a"].low, cis["a"].high] == pytest.approx([alone.mean, alone.low, alone.high])


def test_constant_values_give_a_zero_width_interval() -> None:
    ci = bootstrap_ci(np.full(50, 0.25), n_resamples=200)
    assert ci.low == pytest.approx(0.25)
    assert ci.high == pytest.approx(0.25)


def test_paired_bootstrap_detects_a_real_difference() -> None:
    rng = np.random.default_rng(4)
    base = per_user_values(2000)
    better = base + 0.03 + rng.normal(0, 0.05, size=len(base))
    result = paired_bootstrap(better, base, n_resamples=1000, seed=0)
    assert result.mean_difference == pytest.approx((better - base).mean())
    assert 0.0 < result.low < 0.03 < result.high
    assert result.significant()
    assert result.p_value == pytest.approx(1 / 1001)
    assert result.n_users == 2000


def test_paired_bootstrap_does_not_flag_a_zero_difference() -> None:
    rng = np.random.default_rng(5)
    base = per_user_values(2000)
    # Noise in +-pairs: per-user differences are real, but their mean is exactly zero.
    noise = np.repeat(rng.normal(0, 0.05, size=1000), 2) * np.tile([1.0, -1.0], 1000)
    result = paired_bootstrap(base + noise, base, n_resamples=1000, seed=0)
    assert result.mean_difference == pytest.approx(0.0, abs=1e-12)
    assert result.low < 0.0 < result.high
    assert not result.significant()
    assert result.p_value > 0.5
    identical = paired_bootstrap(base, base, n_resamples=200)
    assert identical.p_value == 1.0


def test_paired_bootstrap_is_more_sensitive_than_comparing_separate_intervals() -> None:
    # Two models that differ slightly but consistently: their separate intervals overlap,
    # the paired test still sees the difference (this is why the pairing matters).
    base = per_user_values(1000)
    better = base + 0.004
    separate_a, separate_b = bootstrap_ci(better), bootstrap_ci(base)
    assert separate_a.low < separate_b.high
    assert paired_bootstrap(better, base).significant()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci(np.ones(5), n_resamples=0), "n_resamples"),
        (lambda: bootstrap_ci(np.ones(5), confidence=1.0), "confidence"),
        (lambda: bootstrap_ci(np.array([]), n_resamples=10), "zero users"),
        (lambda: bootstrap_ci(np.ones((2, 2))), "1-D"),
        (lambda: paired_bootstrap(np.ones(5), np.ones(4)), "same users"),
        (lambda: bootstrap_cis({"a": np.ones(3), "b": np.ones(4)}), "equal length"),
    ],
)
def test_invalid_arguments_are_config_errors(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ConfigError, match=message):
        call()


def test_crossed_bootstrap_counts_the_spread_between_runs() -> None:
    """A difference every user shows in each run but whose sign flips from run to run is not settled:
    resampling users alone calls it certain, resampling runs as well does not."""
    rng = np.random.default_rng(0)
    shift = np.array([1.0, -1.0, 1.2, -0.9])[:, None]  # per run, shared by all its users
    differences = shift + rng.normal(0.0, 0.05, size=(4, 300))
    users_only = bootstrap_means(differences.mean(axis=0), n_resamples=500, seed=1)
    crossed = bootstrap_means_crossed(differences, n_resamples=500, seed=1)
    assert np.quantile(users_only, 0.025) > 0  # the users-only interval excludes 0 ...
    low, high = np.quantile(crossed, [0.025, 0.975])
    assert low < 0 < high  # ... the crossed one does not
    assert crossed.mean() == pytest.approx(differences.mean(), abs=0.15)


def test_crossed_bootstrap_of_one_run_is_the_users_bootstrap_and_keeps_metrics() -> None:
    values = np.stack([per_user_values(50, seed=s) for s in range(3)], axis=-1)  # (users, metrics)
    assert np.array_equal(
        bootstrap_means_crossed(values[None], n_resamples=100, seed=3),
        bootstrap_means(values, n_resamples=100, seed=3),
    )
    runs = np.stack([values, values + 1.0])  # (runs, users, metrics)
    means = bootstrap_means_crossed(runs, n_resamples=300, seed=3)
    assert means.shape == (300, 3)
    assert np.allclose(means.mean(axis=0), runs.mean(axis=(0, 1)), atol=0.1)
    with pytest.raises(ConfigError):
        bootstrap_means_crossed(np.zeros(5))
