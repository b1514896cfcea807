"""Rank agreement of the simulator audit: the two orderings of recommenders, compared with bootstrap.

Per recommender, per test user: the unbiased (or hold-out) metric and the simulated outcome. Kendall
and Spearman between the orderings of the means, percentile-bootstrap intervals and each
recommender's rank distribution (users resampled), paired-bootstrap significance of every pair, and
where the recommenders of the simulator's own families rank (see :mod:`recpilot.simulation.audit`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau, spearmanr

from recpilot.evaluation.bootstrap import bootstrap_cis, bootstrap_means, paired_bootstrap

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
        "rank_distribution": None,
        "pairs": [],
    }
    if len(names) < 3:
        warnings.append(
            f"only {len(names)} recommenders gave results: rank agreement needs three; partial results kept"
        )
        return out
    unbiased = np.column_stack([per_user[n][0] for n in names])
    simulated = np.column_stack([per_user[n][1] for n in names])
    out["kendall"] = _corr(kendalltau, unbiased.mean(axis=0), simulated.mean(axis=0))
    out["spearman"] = _corr(spearmanr, unbiased.mean(axis=0), simulated.mean(axis=0))
    if not enough_users:
        return out
    both = bootstrap_means(np.hstack([unbiased, simulated]), n_resamples=config.n_resamples, seed=config.seed)
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
    significant = concordant = 0
    for a, b in itertools.combinations(range(m), 2):
        test = paired_bootstrap(
            unbiased[:, a], unbiased[:, b], n_resamples=config.n_resamples, seed=config.seed
        )
        sim_diff = float(simulated[:, a].mean() - simulated[:, b].mean())
        same = np.sign(sim_diff) == np.sign(test.mean_difference)
        separated = test.low > 0 or test.high < 0
        significant += separated
        concordant += separated and same
        out["pairs"].append(
            {
                "a": names[a],
                "b": names[b],
                "unbiased_difference": test.mean_difference,
                "unbiased_ci": [test.low, test.high],
                "significant": bool(separated),
                "simulated_difference": sim_diff,
                "same_order": bool(same),
            }
        )
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
        cis = bootstrap_cis(
            {"unbiased": unbiased, "simulated": simulated}, n_resamples=config.n_resamples, seed=config.seed
        )
        results[name]["unbiased_ci"] = cis["unbiased"].bounds()
        results[name]["simulated_ci"] = cis["simulated"].bounds()


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
