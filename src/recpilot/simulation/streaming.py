"""Very large offline runs in bounded memory: chunks streamed to Parquet, resumable, local or on Ray.

The ordinary runner keeps every result row to write one table and compute the summary at the end;
for a million users that is hundreds of millions of rows. Here each chunk of users is simulated on the
vectorised path, committed as its own Parquet pair (``journal/chunk-NNNNNN/items.parquet`` and
``sessions.parquet``, atomically, as :class:`~recpilot.simulation.journal.Journal` does), and reduced
at once to a few counts (:class:`~recpilot.simulation.journal.SummaryTotals`) saved beside it; the
summary adds the counts up, with the ordinary runner's formulas. Memory
holds one chunk per worker, whatever the population. A rerun with ``resume`` skips committed chunks.

With Ray each chunk is a task that writes its own files and returns its counts; at most ``workers``
tasks are in flight, and the object store is capped by the caller (``ray.init(object_store_memory=)``).
The result folder is a Parquet dataset (``pyarrow.dataset.dataset(folder / "journal")``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from recpilot.errors import ConfigError
from recpilot.simulation.batch import UserRows, ranked_width, simulate_chunk
from recpilot.simulation.environment import ModelRecommender
from recpilot.simulation.files import atomic_write_text
from recpilot.simulation.journal import Journal, SummaryTotals, commit_chunk
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.persona import SimulatedUser, genre_matrix
from recpilot.simulation.runner import SimulationRun, run_id_of

Progress = Callable[[int, int], None]


def chunk_task(
    run: SimulationRun, number: int, users: list[SimulatedUser], root: str, rows: UserRows | None = None
) -> dict[str, Any]:
    """Simulate one chunk, commit its tables under ``root`` and return its totals (a Ray task, too).

    ``rows`` carries per-real-user inputs from chunk to chunk in one process (see :class:`UserRows`).
    """
    engine, recommender, cfg = run.engine, run.recommender, run.config
    if not isinstance(engine, OfflineEngine) or not isinstance(recommender, ModelRecommender):
        raise ConfigError("streamed runs need the offline engine and a model recommender (the fast path)")
    items, sessions = simulate_chunk(
        engine,
        recommender,
        users,
        run_seed=cfg.seed,
        run_id=run_id_of(cfg),
        sessions=cfg.sessions,
        pages=cfg.pages,
        page_size=cfg.page_size,
        rows=rows,
    )
    # not through a Journal: opening one clears unfinished chunks, which other workers may be writing
    commit_chunk(Path(root) / "journal", number, items, sessions)
    genres, _ = genre_matrix(run.dataset)
    totals = asdict(SummaryTotals.of(items, sessions, run.dataset.items.external_ids, genres))
    atomic_write_text(_totals_path(Path(root), number), json.dumps(totals))
    return totals


def run_streaming(
    run: SimulationRun,
    output_dir: str | Path,
    *,
    resume: bool = False,
    backend: str = "local",
    workers: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate ``run`` chunk by chunk into ``output_dir``; return the summary (see the module docstring).

    Raises:
        ConfigError: ``output_dir`` holds another run (or any run without ``resume``), or the run is
            not on the fast path.
    """
    root = Path(output_dir)
    Journal(root, run.config, resume=resume)  # refuses a folder holding another run
    size = run.config.chunk_users
    population = run.population
    chunks = [(n, population[i : i + size]) for n, i in enumerate(range(0, len(population), size))]
    done = {n for n, _ in chunks if _totals_path(root, n).is_file()}
    pending = [(n, users) for n, users in chunks if n not in done]
    started = time.perf_counter()
    if backend == "ray":
        _on_ray(run, pending, root, workers, len(done), len(chunks), progress)
    else:
        rows = _user_rows(run)
        for count, (number, users) in enumerate(pending, start=len(done) + 1):
            chunk_task(run, number, users, str(root), rows)
            if progress is not None:
                progress(count, len(chunks))
    wall = time.perf_counter() - started
    totals = [
        SummaryTotals(**json.loads(_totals_path(root, n).read_text(encoding="utf-8"))) for n, _ in chunks
    ]
    summary = SummaryTotals.total(totals).metrics(run.dataset.n_items)
    computed = sum(t.sessions for (n, _), t in zip(chunks, totals, strict=True) if n not in done)
    summary.update(
        run_id=run_id_of(run.config),
        recommender=run.recommender_name,
        chunks=len(chunks),
        resumed_chunks=len(done),
        wall_time_s=wall,
        sessions_per_minute=computed / wall * 60.0 if wall > 0 else 0.0,
    )
    atomic_write_text(root / "summary.json", json.dumps(summary, indent=2))
    return summary


def _on_ray(
    run: SimulationRun,
    pending: list[tuple[int, list[SimulatedUser]]],
    root: Path,
    workers: int,
    done: int,
    total: int,
    progress: Progress | None,
) -> None:
    from recpilot.simulation.ray_backend import require_ray

    ray = require_ray()
    if not ray.is_initialized():
        raise ConfigError(
            "start Ray first (ray.init(num_cpus=..., object_store_memory=...)) to cap its memory"
        )
    remote = ray.remote(_ray_chunk_task)
    # Per-real-user rows (rankings, pair values, choice centres) are computed here once and travel in
    # the same object as the run, so no task ranks or centres the users again (time and memory).
    rows = _user_rows(run, [user for _, users in pending for user in users])
    trimmed = SimulationRun(run.config, run.dataset, [], run.engine, run.recommender, run.recommender_name)
    shared = ray.put((trimmed, rows))
    in_flight: list[Any] = []
    finished = done
    queue = list(pending)
    while queue or in_flight:
        while queue and len(in_flight) < workers:
            number, users = queue.pop(0)
            in_flight.append(remote.remote(shared, number, users, str(root)))
        ready, in_flight = ray.wait(in_flight, num_returns=1)
        ray.get(ready)
        finished += 1
        if progress is not None:
            progress(finished, total)


def _ray_chunk_task(
    shared: tuple[SimulationRun, UserRows | None], number: int, users: list[SimulatedUser], root: str
) -> dict[str, Any]:
    run, rows = shared
    return chunk_task(run, number, users, root, rows)


def _user_rows(run: SimulationRun, fill: list[SimulatedUser] | None = None) -> UserRows | None:
    """The run's per-real-user rows (``None`` off the fast path), filled now for ``fill``'s real users
    (as many as the rows keep)."""
    engine, recommender, cfg = run.engine, run.recommender, run.config
    if not isinstance(engine, OfflineEngine) or not isinstance(recommender, ModelRecommender):
        return None
    rows = UserRows(engine, recommender, ranked_width(cfg.sessions, cfg.pages, cfg.page_size))
    if fill:
        first = {user.user_idx: user for user in fill}
        keep = sorted(first)[: rows.max_users]
        rows.rankings(np.array(keep, dtype=np.int64))
        rows.tastes([first[u] for u in keep])
    return rows


def _totals_path(root: Path, number: int) -> Path:
    return root / "journal" / f"totals-{number:06d}.json"


__all__ = ["chunk_task", "run_streaming"]
