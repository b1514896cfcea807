"""Reflective instructions on Ray shards and across retraining rounds, as in one local run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from _ray_local import local_ray
from _s1_data import clustered_dataset
from test_instructions import _data, _ratings_csv, _run

from recpilot.cli.app import main
from recpilot.errors import ConfigError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.ray_backend import PortableRun, portable, require_ray, run_sharded, simulate_shard
from recpilot.simulation.rounds import INSTRUCTION_COLUMNS, run_rounds
from recpilot.simulation.runner import SimulationRun
from recpilot.simulation.types import SimulationConfig, SimulationResult


def _metrics(result: SimulationResult) -> dict[str, object]:
    return {k: v for k, v in result.to_dict().items() if k not in ("wall_time_s", "sessions_per_minute")}


def _as_ray_sends(run: SimulationRun, parts: list[list[object]]) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Each shard gets its own unpickled copy of the portable run, as a Ray worker does."""
    pickle = require_ray().cloudpickle
    return [simulate_shard(pickle.loads(pickle.dumps(portable(run))), part) for part in parts]  # type: ignore[arg-type]


def test_agent_with_instructions_on_shards_reports_what_one_process_does() -> None:
    """The agent does not pickle: workers rebuild it from the config, each with its own memory, and
    the sharded summary keeps the instructions outcome (it had none before)."""
    single_runner, single = _run(True)
    assert single.instructions is not None
    assert single.instructions.acted_on > 0
    run = single_runner.run
    shipped = portable(run)
    assert isinstance(shipped, PortableRun)  # the agent's tools hold unpicklable validators
    sharded = run_sharded(run, 3, _as_ray_sends)  # type: ignore[arg-type]
    assert sharded.instructions == single.instructions
    assert _metrics(sharded) == _metrics(single)


def test_a_passed_in_recommender_that_does_not_pickle_is_refused() -> None:
    config = SimulationConfig(users=4, sessions=1, pages=2, page_size=4, seed=5, recommender="agent")
    run = dataclasses.replace(build_simulation(config, dataset=_data()), recommender_name="my-agent")
    with pytest.raises(ConfigError, match="cannot be sent to Ray workers"):
        portable(run)


@pytest.mark.slow
def test_two_ray_workers_run_the_agent_with_instructions() -> None:
    from recpilot.simulation.ray_backend import run_on_ray

    single_runner, single = _run(True)
    with local_ray():
        result = run_on_ray(single_runner.run, shards=2)
    assert result.instructions == single.instructions
    assert _metrics(result) == _metrics(single)


def test_rounds_report_instructions_per_round(tmp_path: Path) -> None:
    dataset = clustered_dataset()
    engine = OfflineEngine(seed=3).fit(dataset)
    engine.behaviour = engine.behaviour.model_copy(update={"leave_satisfaction": 0.5, "leave_inactive": 0.0})
    config = SimulationConfig(
        users=20, sessions=1, pages=4, page_size=4, seed=3, recommender="itemknn", instructions=True
    )
    table = run_rounds(config, 2, dataset=dataset, engine=engine)
    assert set(INSTRUCTION_COLUMNS) <= set(table.columns)
    assert table["instructions_given"].sum() > 0
    # a refitted model takes no instructions: nothing acted on, the counterfactual is the run itself
    assert (table["instructions_acted_on"] == 0).all()
    assert (table["retention_with_instructions"] == table["retention_without"]).all()
    assert not set(INSTRUCTION_COLUMNS) & set(
        run_rounds(
            config.model_copy(update={"instructions": False}), 1, dataset=dataset, engine=engine
        ).columns
    )


def test_cli_rounds_take_instructions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _ratings_csv(tmp_path / "ratings.csv")
    argv = ["simulate", "-d", str(path), "-r", "pop", "--users", "6", "--pages", "3", "--instructions"]
    assert main([*argv, "--rounds", "2", "--json"]) == 0
    rounds = json.loads(capsys.readouterr().out)["rounds"]
    assert len(rounds) == 2
    assert all(set(INSTRUCTION_COLUMNS) <= set(row) for row in rounds)
    assert main([*argv, "--rounds", "2"]) == 0
    assert "instructions per round (given, acted on" in capsys.readouterr().out
