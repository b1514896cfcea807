"""Does the simulator predict? Calibration against random exposure and rank agreement with real users.

:func:`run_audit` (``recpilot simulate --audit``) fits the offline engine on the logged data only, then

- **calibration** (random exposure): for every test pair (user, randomly shown item) the engine's
  like probability against what the user did (rating at or above the like threshold): AUC, Brier
  score, expected calibration error (10 equal-count bins), predicted against actual like rate and the
  calibration curve;
- **rank agreement**: each recommender is trained on the logged data; its *unbiased* metric is the
  random-exposure estimate of how many of its top ``K`` items (``K`` = the items a simulated session
  shows) the user likes: random items are a uniform sample, so ``n_items / n_random(u)`` times the
  likes among random items that fall in the top ``K`` is unbiased for the likes in the top ``K``.
  Its *simulated* outcome is the engine's mean number of liked items per session over the same users
  (the random test measures liking).
  Kendall's tau and Spearman's rho between the two orderings come with percentile-bootstrap intervals
  (users resampled), and so does each recommender's place in either ordering (``rank_distribution``:
  the share of resamples ranking it 1st, 2nd, ...; a place the random test does not fix shows as
  shares spread over several ranks); every recommender pair that a paired bootstrap separates at 95%
  on the unbiased metric counts as significant, and as concordant when the simulator orders it the
  same way.

By default the simulator and the recommenders learn from disjoint halves of the log, roles swapped
(cross-fitting, :mod:`recpilot.simulation.audit_folds`): a simulator fitted on the cells a recommender
was fitted on rewards it for reproducing them. The simulator's taste term is the consensus of three
recommender families (:mod:`recpilot.simulation.taste`); ``own_family`` says where the recommenders
of its families rank in both orderings.

The whole comparison is repeated (``repeats``, 5 by default), each time with other halves, recommender
seeds and simulation seed; outcomes are averaged over the repetitions and the bootstrap resamples
repetitions as well as users (:mod:`recpilot.simulation.audit_folds` says why).

On a dataset without a random-exposure test, the same audit runs against a temporal hold-out (each
user's latest 20% of interactions; NDCG@K of each recommender on it), labelled ``temporal-holdout``; it says
whether the simulator ranks recommenders as the future of the log does, not as an online test would.
There the simulated outcome is clicks per session: the hold-out records what users chose, not whether
they liked it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import Split, has_random_exposure, latest_per_user, random_exposure_split
from recpilot.errors import ConfigError, RecpilotError
from recpilot.evaluation.metrics import ndcg
from recpilot.evaluation.unbiased import calibration_summary, random_exposure_likes
from recpilot.models.base import Recommender
from recpilot.models.registry import available_models, build_model, model_class
from recpilot.simulation.audit_agreement import add_intervals, own_family, rank_agreement
from recpilot.simulation.audit_folds import cross_fit_folds, repeat_seed
from recpilot.simulation.batch import simulate_chunk
from recpilot.simulation.behaviour import BehaviourConfig
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.like_model import LikeModelConfig, like_threshold
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.persona import SimulatedUser, build_personas, string_index
from recpilot.simulation.types import SimColumns

FloatArray = npt.NDArray[np.float64]
AuditKind = Literal["random-exposure", "temporal-holdout"]
Step = Callable[[str], None]
#: Below this many test users, bootstrap intervals are not reported (too few to resample).
MIN_USERS_FOR_CI = 20


class NoRandomExposureError(RecpilotError, ValueError):
    """The dataset has no random-exposure test; the temporal audit is offered instead."""


class AuditConfig(BaseModel):
    """One audit, declared once for the CLI, tests and benchmarks.

    Attributes:
        recommenders: Recommender names of the model registry (``random`` included) or dotted class
            paths; at least three.
        temporal: Audit against a temporal hold-out (required when there is no random exposure).
        sessions: Simulated sessions per test user.
        pages: Pages per simulated session.
        page_size: Items per page; ``K = pages * page_size`` for the unbiased metric.
        copies: Simulated users per real test user (more copies, less simulation noise).
        repeats: Repetitions of the whole comparison, each with its own halves of the log (under
            cross-fitting), its own recommender seeds and its own simulation seed; per-user outcomes
            are averaged over them and the bootstrap resamples repetitions as well as users
            (:func:`~recpilot.simulation.audit_folds.repeat_seed`).
        n_resamples: Bootstrap resamples.
        behaviour: The engine's behavioural priors.
        seed: Seed of the simulation, the bootstrap, the halves and every recommender with a ``seed``
            setting.
        cross_fit: Fit the simulator and the recommenders on disjoint halves of the log, both ways
            (:mod:`recpilot.simulation.audit_folds`; the default: no shared-fit bias); off, both on
            the whole log.
        taste: The simulator's collaborative taste term (``LikeModelConfig.taste``): ``consensus``
            (default, favours no recommender family) or ``svd`` (the earlier low-rank block).
    """

    model_config = ConfigDict(extra="forbid")

    recommenders: list[str]
    temporal: bool = False
    sessions: int = Field(default=1, ge=1)
    pages: int = Field(default=3, ge=1)
    page_size: int = Field(default=10, ge=1)
    copies: int = Field(default=4, ge=1)
    repeats: int = Field(default=5, ge=1)
    n_resamples: int = Field(default=1000, ge=100)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    seed: int = Field(default=42, ge=0)
    cross_fit: bool = True
    taste: Literal["consensus", "svd"] = "consensus"


#: What the audit's cross-fitting does (reported with the results).
CROSS_FIT = (
    "simulator and recommenders fitted on disjoint halves of each user's logged interactions, roles "
    "swapped, per-user outcomes averaged over the two folds and the repetitions (calibration: "
    "simulator fitted on all)"
)


def run_audit(dataset: Dataset, config: AuditConfig, *, step: Step | None = None) -> dict[str, Any]:
    """Run the audit (see the module docstring) and return its JSON-ready results.

    Raises:
        ConfigError: Fewer than three recommenders, or names that are not known.
        NoRandomExposureError: ``dataset`` has no random-exposure test and ``temporal`` is off.
    """
    say = step or (lambda _: None)
    names = _check_names(config.recommenders)
    kind: AuditKind
    if config.temporal:
        kind, split = "temporal-holdout", latest_per_user(dataset, test_fraction=0.2)
    elif has_random_exposure(dataset):
        kind, split = "random-exposure", random_exposure_split(dataset)
    else:
        raise NoRandomExposureError(
            f"dataset {dataset.name!r} has no random-exposure test, so an unbiased audit is impossible; "
            "rerun with --temporal for the audit against a temporal hold-out"
        )
    warnings: list[str] = []
    users = _test_users(split)
    if len(users) < MIN_USERS_FOR_CI:
        warnings.append(
            f"only {len(users)} test users: too few for bootstrap intervals and significance (need "
            f"{MIN_USERS_FOR_CI}); point estimates only"
        )
    like = LikeModelConfig(
        seed=config.seed,
        like_threshold=like_threshold(split.train),
        taste=config.taste,
    )
    engine: OfflineEngine | None = None
    if kind == "random-exposure" or not config.cross_fit:
        say(f"fitting the simulator on {split.train.n_interactions:,} logged interactions")
        engine = OfflineEngine(config.behaviour, like=like).fit(split.train)
    calibration = _calibration(engine, split) if engine is not None and kind == "random-exposure" else None
    k, clicks = config.pages * config.page_size, kind != "random-exposure"
    results: dict[str, dict[str, Any]] = {}
    # per recommender, per repetition: per-user unbiased and simulated outcomes (fold means), and CTR
    runs: dict[str, list[tuple[FloatArray, FloatArray, float]]] = {}
    for r in range(config.repeats):
        seed = repeat_seed(config.seed, r)
        folds = cross_fit_folds(split, seed) if config.cross_fit else [(split.train, split)]
        sums: dict[str, list[Any]] = {}
        for fold, (simulator_data, model_split) in enumerate(folds):
            where = f"repeat {r + 1}/{config.repeats}, fold {fold + 1}/{len(folds)}"
            if config.cross_fit or engine is None:
                say(f"{where}: fitting the simulator on one half of the log")
                engine = OfflineEngine(config.behaviour, like=like).fit(simulator_data)
            population = _population(simulator_data, users, config.copies)
            for name in names:
                if name in results:  # failed in an earlier fold or repetition
                    continue
                say(f"{where}: training and simulating {name}")
                try:
                    model = _unfitted(name, seed).fit(model_split.train)
                    threshold = engine.like_threshold
                    unbiased = _unbiased(model, model_split, users, k, kind, like_threshold=threshold)
                    simulated, ctr = _simulated(
                        engine, model, population, users, config, run_seed=seed, clicks=clicks
                    )
                except Exception as exc:  # a recommender's failure is a result, not a crash
                    failure = f"{type(exc).__name__}: {exc}"
                    results[name] = {"error": failure, "unbiased": None, "simulated": None}
                    warnings.append(
                        f"{name} failed and is left out of the rank agreement ({type(exc).__name__})"
                    )
                    runs.pop(name, None)
                    sums.pop(name, None)
                    continue
                total = sums.setdefault(name, [0.0, 0.0, 0.0])
                total[0], total[1], total[2] = total[0] + unbiased, total[1] + simulated, total[2] + ctr
        for name, (unbiased_sum, simulated_sum, ctr_sum) in sums.items():
            runs.setdefault(name, []).append(
                (unbiased_sum / len(folds), simulated_sum / len(folds), ctr_sum / len(folds))
            )
    per_user: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, repeated in runs.items():
        per_user[name] = (np.stack([u for u, _, _ in repeated]), np.stack([s for _, s, _ in repeated]))
        results[name] = {
            "unbiased": float(per_user[name][0].mean()),
            "simulated": float(per_user[name][1].mean()),
            "ctr": float(np.mean([c for _, _, c in repeated])),
        }
    results = {name: results[name] for name in names if name in results}
    agreement = rank_agreement(per_user, config, warnings, enough_users=len(users) >= MIN_USERS_FOR_CI)
    add_intervals(results, per_user, config, enough=len(users) >= MIN_USERS_FOR_CI)
    # the taste the simulator used: on a log too large for the consensus it is the low-rank block
    fitted = engine.preference.summary if engine is not None and engine.preference is not None else {}
    taste = str(fitted.get("taste", config.taste))
    note = fitted.get("taste_note")
    if note:
        warnings.append(str(note))
    metric = (
        f"unbiased likes in the top {k} (random-exposure estimate)"
        if kind == "random-exposure"
        else f"NDCG@{k} on the temporal hold-out (not unbiased)"
    )
    return {
        "dataset": dataset.name,
        "audit": kind,
        "test_users": len(users),
        "repeats": config.repeats,
        "k": k,
        "unbiased_metric": metric,
        "simulated_outcome": (
            "liked items per simulated session"
            if kind == "random-exposure"
            else "clicks per simulated session"
        ),
        "calibration": calibration,
        "rank_agreement": agreement,
        "recommenders": results,
        "taste": taste,
        "own_family": own_family(per_user, taste),
        "cross_fit": CROSS_FIT if config.cross_fit else None,
        "parameters": engine.parameters() if engine is not None else {},
        "warnings": warnings,
    }


def _check_names(names: Sequence[str]) -> list[str]:
    """Distinct names, registry names case-folded (``POP`` is ``pop``); dotted class paths kept as given."""
    given = [n.strip() for n in names if n.strip()]
    known = set(available_models())
    cleaned = list(dict.fromkeys(n.lower() if n.lower() in known else n for n in given))
    if len(cleaned) < 3:
        raise ConfigError(
            f"--recommenders needs at least three distinct recommenders to compare orderings, got "
            f"{len(cleaned)} ({', '.join(cleaned) or 'none'}); e.g. random,pop,itemknn,ease,als,bpr"
        )
    return cleaned


def _unfitted(name: str, seed: int) -> Recommender[Any]:
    """The registry's model ``name``, seeded with the audit's seed when its configuration has one."""
    seeded = {"seed": seed} if "seed" in model_class(name).config_class.model_fields else {}
    return build_model(name, **seeded)


def _test_users(split: Split) -> npt.NDArray[np.int64]:
    """Test users who also have logged interactions (the recommenders can rank for them)."""
    logged = np.diff(split.train.matrix("binary").indptr) > 0
    users = split.test_users
    kept: npt.NDArray[np.int64] = users[logged[users]]
    return kept


def _population(train: Dataset, users: npt.NDArray[np.int64], copies: int) -> list[SimulatedUser]:
    personas = build_personas(train, users=users.tolist())
    index = string_index(train.users.external_ids)
    return [
        SimulatedUser(
            sim_id=f"{p.user_id}#{c}", index=c * len(personas) + row, user_idx=index[p.user_id], persona=p
        )
        for c in range(copies)
        for row, p in enumerate(personas)
    ]


# -- calibration ----------------------------------------------------------------------------------------


def _calibration(engine: OfflineEngine, split: Split) -> dict[str, Any]:
    preference, _ = engine._require()
    test = split.test
    predicted = preference.like_pairs(test[Columns.USER_IDX].to_numpy(), test[Columns.ITEM_IDX].to_numpy())
    actual = (test[Columns.RATING].to_numpy(np.float64) >= engine.like_threshold).astype(np.float64)
    return calibration_summary(predicted, actual)


# -- the two outcomes per recommender -------------------------------------------------------------------


def _unbiased(
    model: Recommender[Any],
    split: Split,
    users: npt.NDArray[np.int64],
    k: int,
    kind: AuditKind,
    *,
    like_threshold: float,
) -> FloatArray:
    """Per test user: the random-exposure estimate of likes in the top ``k`` (a rating at or above
    ``like_threshold``, the engine's, is a like), or temporal NDCG@k."""
    top, _ = model.recommend_indices(users, k=k)
    test = split.test[split.test[Columns.USER_IDX].isin(users)]
    if kind == "temporal-holdout":
        truth = split.truth()
        rows = np.searchsorted(split.test_users, users)
        out: FloatArray = ndcg(top, truth[rows], k).astype(np.float64)
        return out
    return random_exposure_likes(
        top,
        np.searchsorted(users, test[Columns.USER_IDX].to_numpy()),
        test[Columns.ITEM_IDX].to_numpy(),
        test[Columns.RATING].to_numpy(np.float64) >= like_threshold,
        split.train.n_items,
    )


def _simulated(
    engine: OfflineEngine,
    model: Recommender[Any],
    population: list[SimulatedUser],
    users: npt.NDArray[np.int64],
    config: AuditConfig,
    *,
    run_seed: int,
    clicks: bool,
) -> tuple[FloatArray, float]:
    """Per test user: liked items (or clicks) per simulated session, over copies and sessions; the CTR."""
    items, sessions = simulate_chunk(
        engine,
        ModelRecommender(model),
        population,
        run_seed=run_seed,
        run_id="audit",
        sessions=config.sessions,
        pages=config.pages,
        page_size=config.page_size,
    )
    clicked = items[SimColumns.ACTION] == "click"
    if clicks:
        per_session = items[clicked].groupby([SimColumns.USER, SimColumns.SESSION]).size()
        keys = pd.MultiIndex.from_frame(sessions[[SimColumns.USER, SimColumns.SESSION]])
        outcome = per_session.reindex(keys, fill_value=0).to_numpy(np.float64)
    else:
        outcome = sessions[SimColumns.LIKED].map(len).to_numpy(np.float64)
    by_sim_id = {u.sim_id: u.user_idx for u in population}
    real = sessions[SimColumns.USER].map(by_sim_id).to_numpy(np.int64)
    row = np.searchsorted(users, real)
    totals = np.bincount(row, weights=outcome, minlength=len(users))
    counts = np.bincount(row, minlength=len(users)).astype(np.float64)
    return totals / np.maximum(counts, 1.0), float(clicked.sum()) / max(len(items), 1)
