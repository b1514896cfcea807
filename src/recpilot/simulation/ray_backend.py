"""Distribute a simulated population over processes (or machines) with Ray, same results as one process.

The population is cut into shards by the users' population index (round-robin, so every shard gets
a similar mix); each shard runs through the ordinary :class:`~recpilot.simulation.runner.SimulationRunner`
in a Ray task; the driver merges the tables in population order and computes the summary exactly as
the single-process runner does. Every random draw depends only on the run seed, the user's index and
the session (see :func:`~recpilot.simulation.batch.session_seeds`), so a sharded run reproduces the
single-process run with the same seed row for row (the LLM engine too when its answers are replayed
from a cache).

Ray is an optional extra (``pip install recpilot[ray]``), imported only when a Ray run starts.
:func:`run_sharded` with the default serial map runs the same shard-and-merge code without Ray.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from recpilot.errors import ConfigError
from recpilot.simulation.journal import Journal, summary_metrics
from recpilot.simulation.persona import SimulatedUser, genre_matrix
from recpilot.simulation.runner import SimulationRun, SimulationRunner, run_id_of
from recpilot.simulation.types import SimColumns as C
from recpilot.simulation.types import SimulationResult

Tables = tuple[pd.DataFrame, pd.DataFrame]
ShardMap = Callable[[SimulationRun, list[list[SimulatedUser]]], list[Tables]]


def shard_population(population: Sequence[SimulatedUser], shards: int) -> list[list[SimulatedUser]]:
    """``shards`` disjoint parts of the population, round-robin by population index (empty ones dropped)."""
    if shards < 1:
        raise ConfigError(f"a sharded run needs at least 1 shard, got {shards}")
    ordered = sorted(population, key=lambda user: user.index)
    parts = [ordered[i::shards] for i in range(shards)]
    return [part for part in parts if part]


def simulate_shard(run: SimulationRun | PortableRun, users: list[SimulatedUser]) -> Tables:
    """The result tables of ``users`` simulated by the single-process runner (in memory); a
    :class:`PortableRun` first rebuilds its recommender from the run's config."""
    if isinstance(run, PortableRun):
        run = run.rebuilt()
    config = run.config.model_copy(update={"output_dir": None})
    shard = dataclasses.replace(run, config=config, population=users)
    runner = SimulationRunner(shard)
    asyncio.run(runner.arun())
    return runner.items, runner.sessions


@dataclasses.dataclass(frozen=True)
class PortableRun:
    """A run whose recommender cannot be pickled (the agent: its tools hold pydantic validators), sent
    without it; each worker builds it again from the run's config, as the driver did.

    Every worker then has its own agent with an empty memory. Shards hold disjoint simulated users and
    the agent keeps feed rules (reflective instructions) per simulated user, so results equal the
    single-process run's.
    """

    run: SimulationRun

    def rebuilt(self) -> SimulationRun:
        """The run with its recommender built again (:func:`~recpilot.simulation.assembly.build_simulation`'s
        recommender step)."""
        from recpilot.simulation.assembly import build_recommender, split_for_simulation

        config = self.run.config
        split = split_for_simulation(self.run.dataset, config.seed)
        recommender, name = build_recommender(config, split)
        return dataclasses.replace(self.run, recommender=recommender, recommender_name=name)


def portable(run: SimulationRun) -> SimulationRun | PortableRun:
    """``run`` without its population, as it can travel to workers: itself when its recommender
    pickles (cloudpickle, as Ray sends it), else a :class:`PortableRun` when its config can build the
    recommender again.

    Raises:
        ConfigError: The recommender neither pickles nor comes from the run's config (it was passed in).
    """
    from recpilot.simulation.assembly import explored_name

    config = run.config
    built_name = explored_name(config, config.recommender)
    bare = dataclasses.replace(run, population=[])
    try:
        require_ray().cloudpickle.dumps(run.recommender)
    except Exception as exc:  # what fails to pickle raises TypeError, PicklingError, AttributeError...
        if run.recommender_name != built_name:
            raise ConfigError(
                f"recommender {run.recommender_name!r} cannot be sent to Ray workers "
                f"({type(exc).__name__}) and the run's config does not build it; run it with --backend local"
            ) from None
        return PortableRun(dataclasses.replace(bare, recommender=None))  # type: ignore[arg-type]
    return bare


def serial_map(run: SimulationRun, shards: list[list[SimulatedUser]]) -> list[Tables]:
    """Run the shards one after the other in this process (the no-Ray reference)."""
    return [simulate_shard(run, users) for users in shards]


def run_sharded(run: SimulationRun, shards: int, map_shards: ShardMap = serial_map) -> SimulationResult:
    """Simulate ``run`` in ``shards`` shards through ``map_shards``, merge, summarise and write the results.

    Args:
        run: The assembled run (see :func:`recpilot.simulation.assembly.build_simulation`).
        shards: How many shards to cut the population into.
        map_shards: Runs the shards and returns their tables in shard order.

    Returns:
        The summary, computed from the merged tables as the single-process runner computes it.
    """
    config = run.config
    started = time.perf_counter()
    parts = shard_population(run.population, shards)
    tables = map_shards(run, parts)
    order = {user.sim_id: user.index for user in run.population}
    items = _in_population_order(pd.concat([t[0] for t in tables], ignore_index=True), order)
    sessions = _in_population_order(pd.concat([t[1] for t in tables], ignore_index=True), order)
    wall = time.perf_counter() - started
    genres, _ = genre_matrix(run.dataset)
    metrics = summary_metrics(
        items, sessions, run.dataset.items.external_ids, genres, instructions=config.instructions
    )
    result = SimulationResult(
        run_id=run_id_of(config),
        recommender=run.recommender_name,
        engine=run.engine.name,
        wall_time_s=wall,
        sessions_per_minute=len(sessions) / wall * 60.0 if wall > 0 else 0.0,
        **metrics,
    )
    if config.output_dir:
        Journal(Path(config.output_dir), config, resume=True).finalize(items, sessions, result.to_dict())
    return result


def run_on_ray(run: SimulationRun, *, shards: int | None = None) -> SimulationResult:
    """Simulate ``run`` as Ray tasks on the connected cluster (``ray.init()`` first; local by default).

    Args:
        run: The assembled run; it travels to the workers once, through Ray's object store.
        shards: How many tasks (default: the cluster's CPUs).

    Raises:
        ConfigError: Ray is not installed.
    """
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    count = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
    remote = ray.remote(simulate_shard)

    def ray_map(run: SimulationRun, parts: list[list[SimulatedUser]]) -> list[Tables]:
        shared = ray.put(portable(run))
        return list(ray.get([remote.remote(shared, part) for part in parts]))

    return run_sharded(run, count, ray_map)


def require_ray() -> ModuleType:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "distributed simulation needs Ray: install the extra with `pip install recpilot[ray]`"
        ) from None
    return ray


def _in_population_order(frame: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    if not len(frame):
        return frame
    rank: Any = frame[C.USER].map(order)
    keys = [C.SESSION, C.PAGE, C.POSITION] if C.POSITION in frame.columns else [C.SESSION]
    sorted_frame = frame.assign(_rank=rank).sort_values(["_rank", *keys], kind="stable")
    return sorted_frame.drop(columns="_rank").reset_index(drop=True)


__all__ = [
    "PortableRun",
    "portable",
    "require_ray",
    "run_on_ray",
    "run_sharded",
    "serial_map",
    "shard_population",
    "simulate_shard",
]
