"""Offline evaluation of several recommenders on one split."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recpilot.data.columns import Columns
from recpilot.data.splits import Split
from recpilot.errors import ConfigError
from recpilot.evaluation.beyond import (
    average_recommendation_popularity,
    coverage,
    gini_index,
    intra_list_diversity,
    novelty,
)
from recpilot.evaluation.bootstrap import bootstrap_cis
from recpilot.evaluation.metrics import RANKING_METRICS, check_cutoffs, check_metric_names, ranking_metrics
from recpilot.evaluation.protocols import FullRanking, RankingProtocol
from recpilot.evaluation.report import EvaluationReport, ModelResult
from recpilot.models.base import Recommender

_log = logging.getLogger(__name__)

#: Seconds between "still fitting" messages during a long fit.
HEARTBEAT_SECONDS = 30.0

ItemFeatures: TypeAlias = npt.ArrayLike | sp.spmatrix | sp.sparray


def evaluate(
    models: Mapping[str, Recommender[Any]],
    split: Split,
    *,
    k: int | Sequence[int] = 10,
    protocol: RankingProtocol | None = None,
    metrics: Sequence[str] = RANKING_METRICS,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    item_features: ItemFeatures | None = None,
    dataset: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Fit (if needed), run and score each model on the test users of ``split``.

    Each model that is not fitted yet is fitted on ``split.train``; a fitted one must share the
    split's item ids. Every test user (a user with at least one held-out interaction) gets a list of
    ``max(k)`` items under ``protocol``; ranking metrics are computed per user, averaged, and given
    percentile-bootstrap confidence intervals over users (the same resamples for every model).
    Beyond-accuracy metrics use the lists at ``max(k)`` and training popularity. A model that raises
    while fitting, recommending or being scored is reported with an ``error`` and the run goes on.

    Args:
        models: Model name -> recommender.
        split: The train/test split.
        k: One cutoff or several.
        protocol: :class:`FullRanking` (default) or :class:`SampledNegatives`; sampled candidates are
            drawn once and shared by all models.
        metrics: Ranking metrics to compute, from :data:`RANKING_METRICS`.
        n_bootstrap: Bootstrap resamples per interval; 0 skips the intervals.
        confidence: Confidence level of the intervals.
        seed: Seed of the bootstrap.
        item_features: Optional ``(n_items, d)`` item vectors (e.g. genre indicators); adds the
            intra-list diversity ``"ild"``.
        dataset: Name for the report; defaults to the name of the dataset ``split`` was made from.
        progress: Called with a short message before each long step, and every
            :data:`HEARTBEAT_SECONDS` while a model fits (from a helper thread).

    Returns:
        The typed report; ``report.to_dict()`` is the JSON the CLI prints.

    Raises:
        ConfigError: If an argument is invalid or the split has no test users.
    """
    cutoffs = check_cutoffs(k)
    names = check_metric_names(metrics)
    if n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be 0 (no intervals) or positive, got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    ranking = protocol if protocol is not None else FullRanking()
    users = split.test_users
    if len(users) == 0:
        raise ConfigError(f"split {split.protocol!r} of {split.train.name!r} has no test users to evaluate")
    features = _check_features(item_features, split.train.n_items)
    say = progress if progress is not None else _silent
    truth = split.truth()
    say(f"preparing {ranking.label} candidates for {len(users)} test users")
    candidates = ranking.candidates(split, users, truth)
    context = _Context(
        split, users, truth, candidates, cutoffs, names, n_bootstrap, confidence, seed, features, say
    )
    results = {name: _evaluate_model(name, model, context) for name, model in models.items()}
    return EvaluationReport(
        # Splits name their train part "<dataset>[train]"; the report names the dataset itself.
        dataset=dataset if dataset is not None else split.train.name.removesuffix("[train]"),
        protocol=split.protocol,
        ranking=ranking.label,
        k=cutoffs,
        n_users=len(users),
        models=results,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )


@dataclass(frozen=True)
class _Context:
    """What every model's evaluation shares, so the per-model steps take one argument."""

    split: Split
    users: npt.NDArray[np.int64]
    truth: sp.csr_matrix
    candidates: npt.NDArray[np.int64] | None
    cutoffs: tuple[int, ...]
    metrics: tuple[str, ...]
    n_bootstrap: int
    confidence: float
    seed: int
    features: ItemFeatures | None
    say: Callable[[str], None]


def _evaluate_model(name: str, model: Recommender[Any], context: _Context) -> ModelResult:
    train = context.split.train
    fit_seconds = model.fit_seconds
    try:
        if not model.is_fitted:
            memory = model.fit_memory_bytes(train)
            needs = f" (needs about {memory / 1024**3:.1f} GB)" if memory is not None else ""
            context.say(f"{name}: fitting on {train.name}{needs}")
            with heartbeat(context.say, f"{name}: still fitting"):
                model.fit(train)
            fit_seconds = model.fit_seconds
            context.say(f"{name}: fitted in {fit_seconds or 0.0:.1f}s")
        if model.item_map != train.items:
            raise ConfigError(
                f"model {name!r} was fitted on other items ({model.n_items}) than the split "
                f"({train.n_items}); pass it unfitted so it is trained on split.train"
            )
        context.say(f"{name}: recommending for {len(context.users)} users")
        start = time.perf_counter()
        items, _ = model.recommend_indices(context.users, max(context.cutoffs), candidates=context.candidates)
        recommend_seconds = time.perf_counter() - start
        context.say(f"{name}: scoring")
        lists = _padded(items, max(context.cutoffs))
        return _score(name, lists, context, fit_seconds, recommend_seconds)
    except Exception as exc:  # one failing model must not sink the whole comparison
        _log.debug("evaluation of model %r failed", name, exc_info=True)
        return ModelResult(name=name, fit_seconds=fit_seconds, error=f"{type(exc).__name__}: {exc}")


def _score(
    name: str,
    lists: npt.NDArray[np.int64],
    context: _Context,
    fit_seconds: float | None,
    recommend_seconds: float,
) -> ModelResult:
    train = context.split.train
    per_user = ranking_metrics(lists, context.truth, context.cutoffs, context.metrics)
    figures = {metric: float(values.mean()) for metric, values in per_user.items()}
    popularity = train.item_popularity
    figures["coverage"] = coverage(lists, train.n_items)
    figures["novelty"] = _nanmean(novelty(lists, popularity, max(1, len(train.active_users))))
    figures["arp"] = _nanmean(average_recommendation_popularity(lists, popularity))
    figures["gini"] = gini_index(lists, train.n_items)
    if context.features is not None:
        figures["ild"] = _nanmean(intra_list_diversity(lists, context.features))
    intervals = {}
    if context.n_bootstrap:
        cis = bootstrap_cis(
            per_user, n_resamples=context.n_bootstrap, confidence=context.confidence, seed=context.seed
        )
        intervals = {metric: (ci.low, ci.high) for metric, ci in cis.items()}
    frame = pd.DataFrame(
        {
            Columns.USER_IDX: context.users,
            Columns.USER: train.users.to_external(context.users),
            **per_user,
        }
    )
    return ModelResult(
        name=name,
        metrics=figures,
        ci=intervals,
        fit_seconds=fit_seconds,
        recommend_seconds=recommend_seconds,
        per_user=frame,
    )


def _padded(items: npt.NDArray[np.int64], length: int) -> npt.NDArray[np.int64]:
    """Lists padded with -1 to ``length`` columns (a catalog smaller than ``k`` yields fewer)."""
    if items.shape[1] >= length:
        return items[:, :length]
    out = np.full((items.shape[0], length), -1, dtype=np.int64)
    out[:, : items.shape[1]] = items
    return out


def _check_features(features: ItemFeatures | None, n_items: int) -> ItemFeatures | None:
    if features is None:
        return None
    shape = features.shape if isinstance(features, sp.spmatrix | sp.sparray) else np.asarray(features).shape
    if len(shape) != 2:
        raise ConfigError(f"item_features must be a 2-D (n_items, d) matrix, got shape {shape}")
    rows = shape[0]
    if rows != n_items:
        raise ConfigError(
            f"item_features has {rows} rows but the dataset has {n_items} items; one row per item"
        )
    return features


def _nanmean(values: npt.NDArray[np.float64]) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else float("nan")


@contextmanager
def heartbeat(say: Callable[[str], None], message: str, every: float | None = None) -> Iterator[None]:
    """Call ``say(f"{message} ({elapsed}s)")`` every ``every`` seconds while the block runs."""
    interval = HEARTBEAT_SECONDS if every is None else every
    stop = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not stop.wait(interval):
            say(f"{message} ({time.perf_counter() - start:.0f}s)")

    thread = threading.Thread(target=beat, name="fit-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _silent(message: str) -> None:
    """The default progress callback: say nothing."""
