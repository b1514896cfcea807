"""The typed result of an offline evaluation and its JSON and table forms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recpilot.data.columns import Columns
from recpilot.errors import ConfigError
from recpilot.evaluation.bootstrap import PairedComparison, paired_bootstrap


@dataclass(frozen=True)
class ModelResult:
    """One model's figures in an :class:`EvaluationReport`.

    Attributes:
        name: The name the model was given in the run.
        metrics: Mean ranking metrics (``"ndcg@10"``, ...) followed by beyond-accuracy metrics
            (``"coverage"``, ``"novelty"``, ``"arp"``, ``"gini"`` and, with item features, ``"ild"``).
        ci: Bootstrap confidence interval ``(low, high)`` of each ranking metric's mean.
        fit_seconds: Training time (``None`` if the model came fitted and did not record one).
        recommend_seconds: Time to produce every test user's list.
        per_user: One row per test user: ``user_idx``, ``user_id`` and each ranking metric.
        error: ``"ExceptionType: message"`` when fitting or recommending failed; figures are then empty.
    """

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    fit_seconds: float | None = None
    recommend_seconds: float | None = None
    per_user: pd.DataFrame | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the model was evaluated without error."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (``NaN`` becomes ``None``)."""
        if self.error is not None:
            return {"error": self.error, "fit_seconds": _json_float(self.fit_seconds)}
        out: dict[str, Any] = {name: _json_float(value) for name, value in self.metrics.items()}
        out["fit_seconds"] = _json_float(self.fit_seconds)
        out["recommend_seconds"] = _json_float(self.recommend_seconds)
        out["ci"] = {name: [_json_float(low), _json_float(high)] for name, (low, high) in self.ci.items()}
        return out


@dataclass(frozen=True)
class EvaluationReport:
    """The result of :func:`recpilot.evaluation.evaluate`.

    Beyond-accuracy figures are computed on the lists at the largest cutoff.

    Attributes:
        dataset: Name of the evaluated dataset.
        protocol: How the data was split (``"leave-last-out"``, ...).
        ranking: The ranking protocol label (``"full-ranking"``, ``"sampled-100-uniform"``, ...).
        k: The cutoffs, ascending.
        n_users: Number of test users scored.
        models: Results by model name, in run order.
        n_bootstrap: Resamples behind each confidence interval (0: none computed).
        confidence: Confidence level of the intervals.
        seed: Seed of the bootstrap (and of nothing else: sampled protocols carry their own).
    """

    dataset: str
    protocol: str
    ranking: str
    k: tuple[int, ...]
    n_users: int
    models: dict[str, ModelResult]
    n_bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI prints.

        ``{"dataset", "protocol", "ranking", "k", "n_users", "models": {name: {"ndcg@10": ...,
        "coverage": ..., "fit_seconds": ..., "recommend_seconds": ..., "ci": {"ndcg@10": [lo, hi]}}}}``;
        ``"k"`` is an integer for one cutoff and a list for several; a failed model is
        ``{"error": ..., "fit_seconds": ...}``.
        """
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "ranking": self.ranking,
            "k": self.k[0] if len(self.k) == 1 else list(self.k),
            "n_users": self.n_users,
            "models": {name: result.to_dict() for name, result in self.models.items()},
        }

    def to_table(self) -> list[dict[str, Any]]:
        """One row per model for pretty printing: ``model``, each metric, the timings and ``error``.

        Every row has the same keys (``None`` where a figure is missing); the ``error`` column appears
        only when some model failed.
        """
        metric_names: list[str] = []
        for result in self.models.values():
            metric_names.extend(name for name in result.metrics if name not in metric_names)
        any_error = any(not result.ok for result in self.models.values())
        rows: list[dict[str, Any]] = []
        for name, result in self.models.items():
            row: dict[str, Any] = {"model": name}
            row.update({metric: _json_float(result.metrics.get(metric)) for metric in metric_names})
            row["fit_seconds"] = _json_float(result.fit_seconds)
            row["recommend_seconds"] = _json_float(result.recommend_seconds)
            if any_error:
                row["error"] = result.error
            rows.append(row)
        return rows

    def result(self, model: str) -> ModelResult:
        """The result of one model.

        Raises:
            ConfigError: If no model of that name was evaluated.
        """
        if model not in self.models:
            raise ConfigError(f"no model named {model!r} in this report; it has {list(self.models)}")
        return self.models[model]

    def per_user(self, model: str) -> pd.DataFrame:
        """Per-user ranking metrics of one model (``user_idx``, ``user_id``, ``ndcg@10``, ...).

        Raises:
            ConfigError: If the model is unknown or failed.
        """
        result = self.result(model)
        if result.per_user is None:
            raise ConfigError(f"model {model!r} has no per-user figures: it failed with {result.error}")
        return result.per_user.copy()

    def per_user_frame(self) -> pd.DataFrame:
        """Per-user ranking metrics of every model in long form, for CSV export.

        Columns ``model``, ``user_idx``, ``user_id`` and each ranking metric; one row per (model, test
        user). Models that failed have no rows.
        """
        frames = [
            result.per_user.assign(model=name)
            for name, result in self.models.items()
            if result.per_user is not None
        ]
        if not frames:
            return pd.DataFrame(columns=["model", Columns.USER_IDX, Columns.USER])
        combined = pd.concat(frames, ignore_index=True)
        return combined[["model", *[c for c in combined.columns if c != "model"]]]

    def compare(self, a: str, b: str, metric: str) -> PairedComparison:
        """Paired bootstrap of ``metric`` between models ``a`` and ``b`` over the same test users.

        Uses the report's resample count (1000 if the run computed no intervals), confidence and seed.

        Args:
            a: First model name.
            b: Second model name.
            metric: A per-user column such as ``"ndcg@10"``.

        Raises:
            ConfigError: If a model is unknown or failed, or the metric was not computed.
        """
        first, second = self.per_user(a), self.per_user(b)
        if metric not in first.columns:
            columns = [c for c in first.columns if "@" in c]
            raise ConfigError(f"metric {metric!r} was not computed; per-user metrics are {columns}")
        return paired_bootstrap(
            first[metric].to_numpy(),
            second[metric].to_numpy(),
            n_resamples=self.n_bootstrap or 1000,
            confidence=self.confidence,
            seed=self.seed,
        )


def _json_float(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)
