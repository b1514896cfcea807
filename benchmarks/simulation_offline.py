"""Throughput of the calibrated offline simulation engine (recpilot issue 5).

Sessions per minute (median of repeats, and the first repeat alone) at 10 pages x 10 items for the
ease, als and pop recommenders on ml-latest-small; the engine is calibrated once and shared. Timings
cover the simulation only (ranking the batch with the model, the engine, the result tables), not
fitting. The first repeat of the first recommender also computes the engine's per-user choice centres,
which later runs with the same engine reuse.

    .venv/bin/python benchmarks/simulation_offline.py [--users 2000] [--sessions 5] [--repeats 3]
        [--models ease,als,pop] [--rerank] [--async-path]

``--rerank`` ranks every page afresh from the session's clicks (one batched model call per page for
all users of a chunk); ``--async-path`` hides the batch path so every user-page is its own model call,
the path LLM engines and services take (compare the two with ``--rerank``).
"""

from __future__ import annotations

import argparse
import statistics

from recpilot.data.builtin import load_builtin
from recpilot.simulation.assembly import build_engine, build_recommender, split_for_simulation
from recpilot.simulation.environment import RecommenderUnderTest
from recpilot.simulation.persona import build_personas, sample_population
from recpilot.simulation.runner import SimulationRun, SimulationRunner
from recpilot.simulation.types import SimulationConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="ease,als,pop")
    parser.add_argument("--rerank", action="store_true", help="re-rank every page from the clicks")
    parser.add_argument("--async-path", action="store_true", help="one model call per user-page")
    args = parser.parse_args()

    data = load_builtin("ml-latest-small")
    base = SimulationConfig(
        users=args.users, sessions=args.sessions, pages=10, page_size=10, seed=42, rerank=args.rerank
    )
    split = split_for_simulation(data, base.seed)
    engine = build_engine(base, split, data)
    population = sample_population(build_personas(split.train), data, base.users, base.seed)
    rows = []
    for name in args.models.split(","):
        config = base.model_copy(update={"recommender": name})
        recommender, label = build_recommender(config, split)
        if args.async_path:
            recommender = _PerCall(recommender)
        rates, result = [], None
        for _ in range(args.repeats):
            assert (
                args.async_path
                != SimulationRunner(
                    SimulationRun(config, data, population, engine, recommender, label)
                ).fast_path
            )
            runner = SimulationRunner(SimulationRun(config, data, population, engine, recommender, label))
            result = runner.run_sync()
            rates.append(result.sessions_per_minute)
        assert result is not None
        rows.append(
            (
                name,
                statistics.median(rates),
                rates[0],
                result.user_sessions,
                result.ctr,
                result.mean_session_length,
            )
        )

    mode = "async path" if args.async_path else "fast path"
    print(f"{mode}, rerank={args.rerank}, {args.users} users x {args.sessions} sessions")
    print(
        f"{'recommender':<12} {'sessions/min':>13} {'first run':>10} {'sessions':>9} {'CTR':>7} "
        f"{'pages/session':>14}"
    )
    for name, rate, first, sessions, ctr, length in rows:
        print(f"{name:<12} {rate:>13,.0f} {first:>10,.0f} {sessions:>9} {ctr:>7.4f} {length:>14.2f}")


class _PerCall:
    """The same recommender without its batch methods: the runner calls it once per user-page."""

    def __init__(self, inner: RecommenderUnderTest) -> None:
        self.inner = inner

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        return await self.inner.arecommend(user_id, history, k, exclude)


if __name__ == "__main__":
    main()
