"""Periodic retraining on simulated feedback, to study feedback loops and filter bubbles.

A run of ``R`` rounds simulates the population against the model, appends the simulated clicks to the
model's training data (as interactions of the real users the personas are grounded on), refits the
model and starts the next round. After each round the table records how much of the catalog the model
still shows (coverage) and how evenly it spreads exposure (normalised entropy of recommended items):
a model that narrows onto what it already recommended shows both falling round after round.

Results go to ``<output>/round-NN/`` (each an ordinary results folder), ``<output>/rounds.parquet``
(the per-round table) and the pooled ``items.parquet`` / ``sessions.parquet`` of all rounds, so
:func:`recpilot.simulation.report.write_report` on ``<output>`` shows the rounds section.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.files import atomic_write_parquet
from recpilot.simulation.report import ROUNDS_FILE, normalised_entropy
from recpilot.simulation.runner import SimulationRun, SimulationRunner, run_id_of
from recpilot.simulation.types import SimColumns as C
from recpilot.simulation.types import SimulationConfig, SimulationResult

#: Columns of the per-round table.
ROUND_COLUMNS = ("round", "coverage", "entropy", "ctr", "mean_rating", "exit_rate", "new_interactions")
#: Columns added with reflective instructions (``SimulationConfig.instructions``), from each round's
#: :class:`~recpilot.simulation.types.InstructionOutcome`. A refitted model takes no instructions, so
#: ``instructions_acted_on`` stays 0 and ``retention_without`` is what acting on them could not lose.
INSTRUCTION_COLUMNS = (
    "instructions_given",
    "instructions_acted_on",
    "retention_with_instructions",
    "retention_without",
)


def run_rounds(
    config: SimulationConfig,
    rounds: int,
    *,
    dataset: Dataset | None = None,
    engine: DecisionEngine | None = None,
) -> pd.DataFrame:
    """Simulate ``rounds`` rounds, refitting the model on the simulated clicks after each.

    Args:
        config: The run's settings; ``recommender`` must name a model (it is refitted).
        rounds: How many rounds (at least 1).
        dataset: An already loaded dataset (default: load ``config.dataset``).
        engine: An already fitted engine.

    Returns:
        One row per round: coverage and entropy of recommended items over the catalog, click-through,
        mean rating, exit rate and the interactions added to the training data after the round.

    Raises:
        ConfigError: Fewer than one round, or a recommender that is not a refittable model.
    """
    if rounds < 1:
        raise ConfigError(f"retraining needs at least 1 round, got {rounds}")
    base = build_simulation(config, dataset=dataset, engine=engine)
    if not isinstance(base.recommender, ModelRecommender):
        raise ConfigError(
            f"periodic retraining refits a model; recommender {config.recommender!r} is not one "
            "(use a model name such as 'ease', 'itemknn' or 'pop')"
        )
    model = base.recommender.model
    train = _training_data(base)
    root = Path(config.output_dir) if config.output_dir else None
    rows: list[dict[str, Any]] = []
    all_items: list[pd.DataFrame] = []
    all_sessions: list[pd.DataFrame] = []
    run = base
    for number in range(rounds):
        round_config = config.model_copy(
            update={"output_dir": None, "run_id": f"{run_id_of(config)}-r{number}"}
        )
        runner = SimulationRunner(dataclasses.replace(run, config=round_config))
        result = runner.run_sync()
        items, sessions = runner.items, runner.sessions
        added = feedback_interactions(items, sessions, train)
        exposure = items[C.ITEM].value_counts()
        counts = np.zeros(base.dataset.n_items)
        counts[: len(exposure)] = exposure.to_numpy(dtype=np.float64)
        rows.append(
            {
                "round": number,
                "coverage": float(len(exposure) / max(1, base.dataset.n_items)),
                "entropy": normalised_entropy(counts),
                "ctr": result.ctr,
                "mean_rating": result.mean_rating,
                "exit_rate": result.exit_rate,
                "new_interactions": len(added),
                **_instruction_columns(result),
            }
        )
        if root is not None:
            _write(root / f"round-{number:02d}", items, sessions)
        all_items.append(items)
        all_sessions.append(sessions)
        if number + 1 < rounds:
            train = train.with_interactions(pd.concat([train.interactions, added], ignore_index=True))
            refitted = type(model)(model.config).fit(train)
            recommender = ModelRecommender(refitted, use_history=base.recommender.use_history)
            run = dataclasses.replace(run, recommender=recommender)
            model = refitted
    columns = [*ROUND_COLUMNS, *(INSTRUCTION_COLUMNS if config.instructions else ())]
    table = pd.DataFrame(rows, columns=columns)
    if root is not None:
        _write(root, pd.concat(all_items, ignore_index=True), pd.concat(all_sessions, ignore_index=True))
        atomic_write_parquet(root / ROUNDS_FILE, table)
    return table


def feedback_interactions(items: pd.DataFrame, sessions: pd.DataFrame, train: Dataset) -> pd.DataFrame:
    """The clicks of a round as training interactions of the real users behind the personas.

    A rated click keeps its rating; an unrated one gets the user's mean training rating (1.0 for
    implicit data). Timestamps continue after the latest training interaction, in result order.
    """
    clicks = items[items[C.ACTION] == "click"]
    persona = dict(zip(sessions[C.USER], sessions[C.PERSONA], strict=False))
    users = clicks[C.USER].map(persona).astype(str)
    known_users = users.isin(train.users.external_ids.astype(str))
    known_items = clicks[C.ITEM].astype(str).isin(train.items.external_ids.astype(str))
    clicks, users = clicks[known_users & known_items], users[known_users & known_items]
    user_idx = _to_internal(train.users.external_ids, users)
    item_idx = _to_internal(train.items.external_ids, clicks[C.ITEM].astype(str))
    means = train.interactions.groupby(Columns.USER_IDX)[Columns.RATING].mean()
    fallback = 1.0 if train.implicit else float(train.interactions[Columns.RATING].mean())
    rated = clicks[C.RATING].to_numpy(dtype=np.float64)
    user_means = pd.Series(user_idx).map(means).fillna(fallback).to_numpy(dtype=np.float64)
    ratings = np.where(np.isnan(rated), user_means, rated) if not train.implicit else np.ones(len(rated))
    start = int(train.interactions[Columns.TIMESTAMP].max()) + 1 if train.n_interactions else 0
    return pd.DataFrame(
        {
            Columns.USER_IDX: user_idx.astype(np.int32),
            Columns.ITEM_IDX: item_idx.astype(np.int32),
            Columns.RATING: ratings.astype(np.float32),
            Columns.TIMESTAMP: np.arange(start, start + len(clicks), dtype=np.int64),
        }
    )


def _instruction_columns(result: SimulationResult) -> dict[str, Any]:
    said = result.instructions
    if said is None:
        return {}
    return dict(
        zip(
            INSTRUCTION_COLUMNS,
            (said.given, said.acted_on, said.retention_with_instructions, said.retention_without),
            strict=True,
        )
    )


def _to_internal(external: np.ndarray[Any, Any], values: pd.Series) -> np.ndarray[Any, Any]:
    index = {str(e): i for i, e in enumerate(external.tolist())}
    return np.array([index[v] for v in values.tolist()], dtype=np.int64)


def _training_data(run: SimulationRun) -> Dataset:
    # build_simulation fits the model on the simulation split's training part; rebuild that split.
    from recpilot.simulation.assembly import split_for_simulation

    return split_for_simulation(run.dataset, run.config.seed).train


def _write(folder: Path, items: pd.DataFrame, sessions: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(folder / "items.parquet", items)
    atomic_write_parquet(folder / "sessions.parquet", sessions)


__all__ = ["INSTRUCTION_COLUMNS", "ROUND_COLUMNS", "feedback_interactions", "run_rounds"]
