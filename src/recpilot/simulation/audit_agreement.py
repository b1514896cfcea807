"""Rank agreement of the simulator audit: the two orderings of recommenders, compared with bootstrap.

Per recommender, per repetition and test user: the unbiased (or hold-out) metric and the simulated
outcome. Kendall and Spearman between the orderings of the means, percentile-bootstrap intervals and
each recommender's rank distribution, paired-bootstrap significance of every pair, and where the
recommenders of the simulator's own families rank (see :mod:`recpilot.simulation.audit`). The
bootstrap resamples repetitions as well as users (:func:`~recpilot.evaluation.bootstrap.
bootstrap_means_crossed`): a difference one split of the log produces is not taken for a real one.
A significant pair the simulator orders by a difference its own interval does not separate from zero
is reported as tied in simulation (``ties_in_simulation``); it counts as concordant only by its sign.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau, spearmanr

from recpilot.evaluation.bootstrap import bootstrap_means_crossed

if TYPE_CHECKING:
    from recpilot.simulation.audit import AuditConfig

FloatArray = npt.NDArray[np.float64]

#: Per taste term of the like model, the recommenders of the families nearest the simulator, and why.
#: The consensus weighs its three families alike; popularity is near through the item bias either way.
OWN_FAMILY = {
    "consensus": {
        "pop": "the like model's item bias scores items as popularity does",
        "itemknn": "item neighbourhood is one of the taste consensus's three families, weighed alike",
        "ease": "the linear autoencoder is one of the taste consensus's three families, weighed alike",
        "als": "low rank is one of the taste consensus's three families, weighed alike",
        "bpr": "low rank is one of the taste consensus's three families, weighed alike",
    },
    "svd": {
        "pop": "the like model's item bias scores items as popularity does",
        "als": "the like model's taste block is a low-rank factorisation",
        "bpr": "the like model's taste block is a low-rank factorisation",
    },
}


def rank_agreement(
    per_user: dict[str, tuple[FloatArray, FloatArray]],
    config: AuditConfig,
    warnings: list[str],
    *,
    enough_users: bool,
) -> dict[str, Any]:
    """Kendall, Spearman (with bootstrap intervals), rank distributions and pair significance; ``None``
    entries and a warning where fewer than three recommenders gave results."""
    names = list(per_user)
    out: dict[str, Any] = {
        "recommenders": names,
        "kendall": None,
        "spearman": None,
        "kendall_ci": None,
        "spearman_ci": None,
        "significant_pairs": None,
        "concordant_significant_pairs": None,
        "ties_in_simulation": None,
        "rank_distribution": None,
        "pairs": [],
    }
    if len(names) < 3:
        warnings.append(
            f"only {len(names)} recommenders gave results: rank agreement needs three; partial results kept"
        )
        return out
    unbiased = np.stack([per_user[n][0] for n in names], axis=-1)  # (repeats, users, recommenders)
    simulated = np.stack([per_user[n][1] for n in names], axis=-1)
    true_means, sim_means = unbiased.mean(axis=(0, 1)), simulated.mean(axis=(0, 1))
    out["kendall"] = _corr(kendalltau, true_means, sim_means)
    out["spearman"] = _corr(spearmanr, true_means, sim_means)
    if not enough_users:
        return out
    both = bootstrap_means_crossed(
        np.concatenate([unbiased, simulated], axis=-1), n_resamples=config.n_resamples, seed=config.seed
    )
    m = len(names)
    for key, fn in (("kendall_ci", kendalltau), ("spearman_ci", spearmanr)):
        values = np.array([_corr(fn, row[:m], row[m:]) for row in both], dtype=np.float64)  # None -> nan
        values = values[np.isfinite(values)]
        out[key] = (
            [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))] if len(values) else None
        )
    out["rank_distribution"] = {
        "unbiased": _rank_shares(both[:, :m], names),
        "simulated": _rank_shares(both[:, m:], names),
    }
    significant = concordant = ties = 0
    for a, b in itertools.combinations(range(m), 2):
        true_low, true_high = _interval(both[:, a] - both[:, b])
        sim_low, sim_high = _interval(both[:, m + a] - both[:, m + b])
        true_diff = float(true_means[a] - true_means[b])
        sim_diff = float(sim_means[a] - sim_means[b])
        same = np.sign(sim_diff) == np.sign(true_diff)
        separated = true_low > 0 or true_high < 0
        tied = not (sim_low > 0 or sim_high < 0)
        significant += separated
        concordant += separated and same
        ties += separated and tied
        out["pairs"].append(
            {
                "a": names[a],
                "b": names[b],
                "unbiased_difference": true_diff,
                "unbiased_ci": [true_low, true_high],
                "significant": bool(separated),
                "simulated_difference": sim_diff,
                "simulated_ci": [sim_low, sim_high],
                "same_order": bool(same),
                "tied_in_simulation": bool(tied),
            }
        )
    out["ties_in_simulation"] = int(ties)
    out["significant_pairs"], out["concordant_significant_pairs"] = int(significant), int(concordant)
    return out


def _rank_shares(means: FloatArray, names: list[str]) -> dict[str, list[float]]:
    """Per recommender, the share of bootstrap resamples that rank it 1st, 2nd, ... (best first; ties
    by column order): how firmly the data fix its place in the ordering."""
    m = len(names)
    ranks = np.argsort(np.argsort(-means, axis=1, kind="stable"), axis=1)
    return {
        name: (np.bincount(ranks[:, j], minlength=m) / len(means)).tolist() for j, name in enumerate(names)
    }


def _corr(fn: Any, x: FloatArray, y: FloatArray) -> float | None:
    """The correlation, or ``None`` where it is undefined (a constant ordering, e.g. in a resample)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    value = float(fn(x, y)[0])
    return value if np.isfinite(value) else None


def add_intervals(
    results: dict[str, dict[str, Any]],
    per_user: dict[str, tuple[FloatArray, FloatArray]],
    config: AuditConfig,
    *,
    enough: bool,
) -> None:
    """Add bootstrap intervals of both outcomes to each recommender's results (not below enough users)."""
    if not enough:
        return
    for name, (unbiased, simulated) in per_user.items():
        means = bootstrap_means_crossed(
            np.stack([unbiased, simulated], axis=-1), n_resamples=config.n_resamples, seed=config.seed
        )
        results[name]["unbiased_ci"] = list(_interval(means[:, 0]))
        results[name]["simulated_ci"] = list(_interval(means[:, 1]))


def _interval(resampled: FloatArray) -> tuple[float, float]:
    """The 95% percentile interval of resampled values."""
    low, high = np.quantile(resampled, [0.025, 0.975])
    return float(low), float(high)


def own_family(per_user: dict[str, tuple[FloatArray, FloatArray]], taste: str) -> list[dict[str, Any]]:
    """Where the recommenders of the simulator's own families (for its ``taste`` term) rank, in truth
    and in simulation."""
    names = list(per_user)
    unbiased = -np.array([per_user[n][0].mean() for n in names])
    simulated = -np.array([per_user[n][1].mean() for n in names])
    true_rank = np.argsort(np.argsort(unbiased)) + 1
    sim_rank = np.argsort(np.argsort(simulated)) + 1
    return [
        {
            "recommender": name,
            "why": why,
            "unbiased_rank": int(true_rank[names.index(name)]),
            "simulated_rank": int(sim_rank[names.index(name)]),
            "of": len(names),
        }
        for name, why in OWN_FAMILY[taste].items()
        if name in per_user
    ]
