"""Load test of the HTTP API: uvicorn in a subprocess on loopback, load from this process.

Measures ``POST /v1/recommend`` (requests/s, p50/p95/p99 latency at a fixed concurrency, and the
server's CPU milliseconds per request) over raw keep-alive HTTP/1.1 connections, and chat turns
through ``POST /v1/sessions/{id}/messages`` with the offline brain (p50/p95, httpx), each over several
runs, and prints the medians. SQLite store and cached models under the given or a temporary home (the
first start fits the models once).

    .venv/bin/python benchmarks/api_load.py --seconds 5 --runs 3 --turns 16 --concurrency 16 \
        --home /tmp/apibench-home [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

_SERVER = """
import sys, uvicorn
sys.path.insert(0, sys.argv[4])
from api_load import bench_config
from recpilot.api import create_app
from recpilot.service import RecommenderService
service = RecommenderService.from_config(bench_config(sys.argv[1]))
print(service.create_api_key("bench").key, flush=True)
port, workers = int(sys.argv[2]), int(sys.argv[3])
options = {"host": "127.0.0.1", "port": port, "log_level": "warning", "access_log": False}
if workers == 1:
    uvicorn.run(create_app(service=service), **options)
else:  # each worker process loads its own service (the models come from the cache)
    service.close()
    uvicorn.run("api_load:bench_app", factory=True, workers=workers, app_dir=sys.argv[4], **options)
"""


def bench_config(home: str) -> Any:
    """The served configuration; the per-key rate limit is lifted (it would answer most load with 429)."""
    from recpilot.service import LimitsConfig, ServiceConfig

    limits = LimitsConfig(rate_per_s=1e6, burst=10**6)
    cache = int(os.environ.get("RECPILOT_BENCH_CACHE", "4096"))
    return ServiceConfig(home=Path(home), limits=limits, ranking_cache=cache)


def bench_app() -> Any:
    """The app of one uvicorn worker process (``--workers`` > 1), home from ``RECPILOT_BENCH_HOME``."""
    from recpilot.api import create_app

    return create_app(bench_config(os.environ["RECPILOT_BENCH_HOME"]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _recommend_run(port: int, key: str, seconds: float, concurrency: int) -> dict[str, float]:
    """``concurrency`` keep-alive connections, each sending one request after the other.

    The client speaks HTTP/1.1 over raw asyncio streams (pre-built requests, Content-Length framing),
    as load generators such as wrk do: a full client library would spend more CPU per request than
    the server and, on a small machine, measure itself.
    """
    latencies: list[float] = []
    errors = 0
    users = [str(u) for u in range(1, 611)]
    requests = [_request(key, json.dumps({"user_id": user, "k": 10}).encode()) for user in users]
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(requests[i % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                errors += not head.startswith(b"HTTP/1.1 200")
                i += concurrency
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": _percentile(latencies, 0.50) * 1000,
        "p95": _percentile(latencies, 0.95) * 1000,
        "p99": _percentile(latencies, 0.99) * 1000,
        "errors": float(errors),
    }


async def _recommend_run_httpx(port: int, key: str, seconds: float, concurrency: int) -> dict[str, float]:
    """The same load through httpx (the client of the first measurements; it costs more CPU per request
    than the server, so on a small machine it mostly measures itself)."""
    latencies: list[float] = []
    errors = 0
    users = [str(u) for u in range(1, 611)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(
                    "/v1/recommend", json={"user_id": users[i % len(users)], "k": 10}
                )
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200
                i += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": _percentile(latencies, 0.50) * 1000,
        "p95": _percentile(latencies, 0.95) * 1000,
        "p99": _percentile(latencies, 0.99) * 1000,
        "errors": float(errors),
    }


def _request(key: str, body: bytes) -> bytes:
    head = (
        "POST /v1/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _chat_run(base: str, key: str, turns: int) -> dict[str, float]:
    messages = ["a funny sci-fi movie from the 90s", "something darker", "thrillers like Heat", "comedies"]
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        sid = (await client.post("/v1/sessions", json={"user_id": "bench-chat"})).json()["session_id"]
        for i in range(turns):
            if i % 8 == 0:  # fresh sessions: long dialogues would measure condensation, not a turn
                sid = (await client.post("/v1/sessions", json={"user_id": "bench-chat"})).json()["session_id"]
            started = time.perf_counter()
            response = await client.post(f"/v1/sessions/{sid}/messages", json={"content": messages[i % 4]})
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
    return {"p50": _percentile(latencies, 0.5) * 1000, "p95": _percentile(latencies, 0.95) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one recommend run")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent recommend clients")
    parser.add_argument("--turns", type=int, default=40, help="chat turns per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator")
    parser.add_argument("--ranking-cache", type=int, default=4096, help="rankings cached (0: none)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--home", type=Path, default=None, help="settings home (default: a temp folder)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="recpilot-bench-"))
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RECPILOT_BENCH_HOME": str(home)}
    env["RECPILOT_BENCH_CACHE"] = str(args.ranking_cache)
    here = str(Path(__file__).resolve().parent)
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(home), str(port), str(args.workers), here],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        key = server.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        load = _recommend_run if args.client == "raw" else _recommend_run_httpx
        asyncio.run(load(port, key, 2.0, args.concurrency))  # warm-up
        recs = []
        for _ in range(args.runs):
            cpu = _cpu_seconds(server.pid)
            run = asyncio.run(load(port, key, args.seconds, args.concurrency))
            run["server_cpu_ms"] = (
                (_cpu_seconds(server.pid) - cpu) * 1000 / max(1.0, run["rps"] * args.seconds)
            )
            recs.append(run)
        chats = [asyncio.run(_chat_run(base, key, args.turns)) for _ in range(args.runs)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    med = {name: statistics.median(r[name] for r in recs) for name in recs[0]}
    chat = {name: statistics.median(r[name] for r in chats) for name in chats[0]}
    print(
        f"cpus={os.cpu_count()} client={args.client} workers={args.workers} cache={args.ranking_cache} "
        f"concurrency={args.concurrency} "
        f"seconds={args.seconds} runs={args.runs}"
    )
    head = ["req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    print(f"{'benchmark':<28}" + "".join(f"{h:>10}" for h in head) + f"{'srv cpu ms/req':>16}")
    values = [f"{med['rps']:>10.0f}"] + [f"{med[q]:>10.1f}" for q in ("p50", "p95", "p99")]
    print(
        f"{'POST /v1/recommend':<28}"
        + "".join(values)
        + f"{med['errors']:>10.0f}{med['server_cpu_ms']:>16.2f}"
    )
    print(f"{'chat turn (offline brain)':<28}{'':>10}{chat['p50']:>10.1f}{chat['p95']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
