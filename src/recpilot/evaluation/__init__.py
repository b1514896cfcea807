"""Offline evaluation: ranking and beyond-accuracy metrics, protocols, bootstrap intervals, the runner.

Metrics are pure functions of ranked lists and truth (see :mod:`recpilot.evaluation.metrics`);
:func:`evaluate` fits, runs and scores models on a split and returns an :class:`EvaluationReport`.
"""

from recpilot.evaluation.beyond import (
    average_recommendation_popularity,
    coverage,
    gini_index,
    intra_list_diversity,
    item_exposure,
    multi_hot,
    novelty,
)
from recpilot.evaluation.bootstrap import (
    ConfidenceInterval,
    PairedComparison,
    bootstrap_ci,
    bootstrap_cis,
    bootstrap_means,
    bootstrap_means_crossed,
    paired_bootstrap,
)
from recpilot.evaluation.metrics import (
    RANKING_METRICS,
    average_precision,
    hit_matrix,
    hit_rate,
    mrr,
    ndcg,
    precision,
    ranking_metrics,
    recall,
)
from recpilot.evaluation.protocols import FullRanking, RankingProtocol, SampledNegatives, ranking_protocol
from recpilot.evaluation.report import EvaluationReport, ModelResult
from recpilot.evaluation.runner import evaluate
from recpilot.evaluation.unbiased import calibration_summary, random_exposure_likes

__all__ = [
    "RANKING_METRICS",
    "ConfidenceInterval",
    "EvaluationReport",
    "FullRanking",
    "ModelResult",
    "PairedComparison",
    "RankingProtocol",
    "SampledNegatives",
    "average_precision",
    "average_recommendation_popularity",
    "bootstrap_ci",
    "bootstrap_cis",
    "bootstrap_means",
    "bootstrap_means_crossed",
    "calibration_summary",
    "coverage",
    "evaluate",
    "gini_index",
    "hit_matrix",
    "hit_rate",
    "intra_list_diversity",
    "item_exposure",
    "mrr",
    "multi_hot",
    "ndcg",
    "novelty",
    "paired_bootstrap",
    "precision",
    "random_exposure_likes",
    "ranking_metrics",
    "ranking_protocol",
    "recall",
]
