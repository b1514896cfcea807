"""A million simulated users on the offline engine: wall time and peak memory, one process and Ray (issue 12).

Personas come from ml-latest-small (copies of its 610 users), the recommender is EASE fitted on the
simulation split, 10 pages x 10 items per session. Results stream chunk by chunk to Parquet
(:mod:`recpilot.simulation.streaming`). Peak memory is the largest sum of resident memory over this
process and all its descendants (Ray's raylet, object store and workers included), sampled every
0.2 s from ``/proc`` (Linux); beside it the same sum of proportional set sizes, which counts a page
shared by several processes (the object store) once. Preparation (loading, fitting the engine and
the model, building the population) is timed apart from the simulation.

    .venv/bin/python benchmarks/simulation_scale.py [--users 1000000] [--sessions 1]
        [--backend local|ray] [--workers 2] [--chunk-users 20000] [--object-store-mb 512]
        [--output DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from recpilot.data.builtin import load_builtin
from recpilot.simulation.assembly import build_engine, build_recommender, split_for_simulation
from recpilot.simulation.persona import build_personas, sample_population
from recpilot.simulation.runner import SimulationRun
from recpilot.simulation.streaming import run_streaming
from recpilot.simulation.types import SimulationConfig


class PeakMemory:
    """Samples the memory of this process tree in a background thread (resident and proportional)."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss, pss = tree_memory(os.getpid())
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            self._stop.wait(0.2)


def tree_memory(root: int) -> tuple[int, int]:
    """Resident and proportional bytes of ``root`` and its descendants.

    The resident sum counts a shared page (Ray's object store, shared libraries) once per process that
    maps it; the proportional set size (PSS) splits it among them, so its sum is the physical memory.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(int(entry.name))
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        values = dict(line.split(":", 1) for line in rollup.splitlines()[1:] if ":" in line)
        rss += int(values.get("Rss", "0 kB").split()[0]) * 1024
        pss += int(values.get("Pss", "0 kB").split()[0]) * 1024
    return rss, pss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-users", type=int, default=20_000)
    parser.add_argument("--object-store-mb", type=int, default=512)
    parser.add_argument("--recommender", default="ease")
    parser.add_argument("--output", default=None, help="result folder (default: a temporary one)")
    args = parser.parse_args()

    with PeakMemory() as memory:
        started = time.perf_counter()
        data = load_builtin("ml-latest-small")
        config = SimulationConfig(
            users=args.users,
            sessions=args.sessions,
            pages=10,
            page_size=10,
            seed=42,
            recommender=args.recommender,
            chunk_users=args.chunk_users,
        )
        split = split_for_simulation(data, config.seed)
        engine = build_engine(config, split, data)
        recommender, label = build_recommender(config, split)
        population = sample_population(build_personas(split.train), data, config.users, config.seed)
        run = SimulationRun(config, data, population, engine, recommender, label)
        prepared = time.perf_counter() - started
        if args.backend == "ray":
            import ray

            ray.init(
                num_cpus=args.workers,
                object_store_memory=args.object_store_mb * 2**20,
                include_dashboard=False,
                log_to_driver=False,
            )
        with tempfile.TemporaryDirectory(prefix="recpilot-scale-") as folder:
            summary = run_streaming(run, args.output or folder, backend=args.backend, workers=args.workers)
        if args.backend == "ray":
            ray.shutdown()
    print(f"backend={args.backend} workers={args.workers} users={args.users:,} sessions={args.sessions}")
    print(f"preparation: {prepared:.1f} s")
    print(
        f"simulation: {summary['wall_time_s']:.1f} s, {summary['sessions_per_minute']:,.0f} sessions/min, "
        f"{summary['chunks']} chunks"
    )
    print(
        f"peak memory (process tree): {memory.peak / 2**30:.2f} GiB resident (shared pages counted per "
        f"process), {memory.peak_pss / 2**30:.2f} GiB proportional (physical)"
    )
    times = os.times()
    print(f"CPU time of this process: {times.user + times.system:.0f} s (Ray workers not included)")
    print(
        f"ctr {summary['ctr']:.4f}, likes/session {summary['likes_per_session']:.3f}, "
        f"pages/session {summary['mean_session_length']:.2f}"
    )


if __name__ == "__main__":
    main()
