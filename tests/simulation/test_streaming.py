"""Streamed runs: chunk files on disk, totals equal to the ordinary runner's, resumable, on Ray too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from _ray_local import local_ray
from _s1_data import clustered_dataset

from recpilot.errors import ConfigError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.runner import SimulationRun, SimulationRunner
from recpilot.simulation.streaming import run_streaming
from recpilot.simulation.types import SimColumns as C
from recpilot.simulation.types import SimulationConfig

CONFIG = {
    "users": 30,
    "sessions": 1,
    "pages": 3,
    "page_size": 5,
    "seed": 4,
    "recommender": "pop",
    "chunk_users": 8,
}


@pytest.fixture(scope="module")
def run() -> SimulationRun:
    dataset = clustered_dataset()
    engine = OfflineEngine(seed=4).fit(dataset)
    return build_simulation(SimulationConfig(**CONFIG), dataset=dataset, engine=engine)  # type: ignore[arg-type]


def test_streamed_totals_equal_the_ordinary_run(run: SimulationRun, tmp_path: Path) -> None:
    summary = run_streaming(run, tmp_path / "out")
    expected = SimulationRunner(run).run_sync()
    assert summary["chunks"] == 4
    assert summary["user_sessions"] == expected.user_sessions
    assert summary["errors"] == expected.errors
    for metric in (
        "ctr",
        "likes_per_session",
        "mean_rating",
        "mean_session_length",
        "exit_rate",
        "completion_rate",
        "coverage",
        "diversity",
    ):
        assert summary[metric] == pytest.approx(getattr(expected, metric)), metric
    assert expected.likes_per_session > 0  # the comparison is not between zeros
    assert expected.mean_rating is not None
    chunks = sorted((tmp_path / "out" / "journal").glob("chunk-*"))
    assert len(chunks) == 4
    users = pd.concat(pd.read_parquet(c / "sessions.parquet") for c in chunks)[C.USER]
    assert sorted(users) == sorted(u.sim_id for u in run.population)


def test_a_rerun_resumes_from_the_committed_chunks(run: SimulationRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = dataclasses.replace(run, population=run.population[:16])  # two chunks, then "stopped"
    run_streaming(first, out)
    with pytest.raises(ConfigError, match="--resume"):
        run_streaming(run, out)
    summary = run_streaming(run, out, resume=True)
    assert summary["resumed_chunks"] == 2
    assert summary["user_sessions"] == 30
    again = run_streaming(run, out, resume=True)  # nothing left to compute: the same totals
    assert again["resumed_chunks"] == 4
    assert again["ctr"] == summary["ctr"]


@pytest.mark.slow
def test_ray_streamed_run_equals_the_local_one(run: SimulationRun, tmp_path: Path) -> None:
    local = run_streaming(run, tmp_path / "local")
    with local_ray():
        remote = run_streaming(run, tmp_path / "ray", backend="ray", workers=2)
    for key in ("user_sessions", "ctr", "likes_per_session", "mean_session_length", "coverage"):
        assert remote[key] == local[key]
