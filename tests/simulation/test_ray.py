"""Sharded runs (serially and on local Ray workers) reproduce the single-process run with the same seed."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from _ray_local import local_ray
from _s1_data import clustered_dataset

from recpilot.errors import ConfigError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.ray_backend import require_ray, run_on_ray, run_sharded, shard_population
from recpilot.simulation.runner import SimulationRun, SimulationRunner
from recpilot.simulation.types import SimColumns as C
from recpilot.simulation.types import SimulationResult

CONFIG = {"users": 24, "sessions": 2, "pages": 3, "page_size": 5, "seed": 11, "recommender": "pop"}


@pytest.fixture(scope="module")
def run() -> SimulationRun:
    from recpilot.simulation.types import SimulationConfig

    dataset = clustered_dataset()
    engine = OfflineEngine(seed=11).fit(dataset)
    return build_simulation(SimulationConfig(**CONFIG), dataset=dataset, engine=engine)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def single(run: SimulationRun) -> SimulationRunner:
    runner = SimulationRunner(run)
    runner.run_sync()
    return runner


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order (the fast path writes page by page, the async path user by user)."""
    keys = [c for c in (C.USER, C.SESSION, C.PAGE, C.POSITION) if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _metrics(result: SimulationResult) -> dict[str, object]:
    return {k: v for k, v in result.to_dict().items() if k not in ("wall_time_s", "sessions_per_minute")}


def test_shards_partition_the_population(run: SimulationRun) -> None:
    parts = shard_population(run.population, 5)
    ids = [u.sim_id for part in parts for u in part]
    assert sorted(ids) == sorted(u.sim_id for u in run.population)
    assert len(parts) == 5
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert len(shard_population(run.population[:2], 5)) == 2  # no empty shards
    with pytest.raises(ConfigError, match="at least 1 shard"):
        shard_population(run.population, 0)


def test_serial_shards_equal_the_single_process_run(
    run: SimulationRun, single: SimulationRunner, tmp_path: Path
) -> None:
    sharded_config = run.config.model_copy(update={"output_dir": str(tmp_path / "out")})
    import dataclasses

    result = run_sharded(dataclasses.replace(run, config=sharded_config), 3)
    expected = SimulationRunner(run).run_sync()
    assert _metrics(result) == _metrics(expected)
    for name, table in (("items", single.items), ("sessions", single.sessions)):
        written = pd.read_parquet(tmp_path / "out" / f"{name}.parquet")
        pd.testing.assert_frame_equal(_canonical(written), _canonical(table))


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"recpilot\[ray\]"):
        require_ray()


@pytest.mark.slow
def test_two_local_ray_workers_give_the_single_process_metrics(
    run: SimulationRun, single: SimulationRunner
) -> None:
    with local_ray():
        result = run_on_ray(run, shards=2)
    expected = SimulationRunner(run).run_sync()
    assert _metrics(result) == _metrics(expected)
    assert result.user_sessions == len(single.sessions)
