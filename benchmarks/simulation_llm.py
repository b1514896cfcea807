"""Throughput of the LLM user simulator against a loopback OpenAI-compatible stub with a fixed latency.

The stub (a minimal asyncio HTTP/1.1 server in its own process, so it never competes with the client
for the GIL) answers every chat completion after ``--latency-ms`` with a valid page answer. With
``--concurrency C`` requests in flight, the ideal is ``C / latency`` calls per second (64 / 0.2 s =
320/s); the client's own cost (prompt building, the chat client, HTTP, validation) is what keeps it
below. Prints calls/second per run, the client's and the stub's CPU per call (the stable figures on a
shared machine), the median of the runs, its share of the ideal and the load average.

The engine talks through recpilot's one LLM stack (:class:`recpilot.llm.client.LLMClient`, output
mode ``tool`` here, as the stub answers with tool calls); ``--processes P`` splits
the calls and the concurrency over P client processes that start each run together (the
multi-process route, as the Ray backend shards a population); ``--freeze-gc`` calls ``gc.freeze()``
after the warm-up. uvloop drives the client's event loop when it is installed.

Usage: ``.venv/bin/python benchmarks/simulation_llm.py [--calls 960] [--concurrency 64] [--runs 3]
[--processes 1] [--freeze-gc]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import socket
import statistics
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from recpilot.llm import LLMSettings
from recpilot.llm.ratelimit import RateLimitConfig
from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
from recpilot.simulation.types import Page, Persona, ShownItem, UserState

ANSWER = {"clicked": [{"item_id": "i3", "rating": 4.0, "reason": "looks good"}], "satisfaction": 0.6}

#: One run of one client process: (start, end) on the shared monotonic clock and CPU seconds.
RunTimes = tuple[float, float, float]


def _completion_body() -> bytes:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "final_result", "arguments": json.dumps(ANSWER)},
    }
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
    }
    return json.dumps(body).encode()


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float
) -> None:
    payload = _completion_body()
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
    )
    try:
        while True:
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            await asyncio.sleep(latency)
            writer.write(head + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _stub_server(sock: socket.socket, latency: float) -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _serve_connection(r, w, latency), sock=sock)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of another process so far; None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_serving(port: int) -> None:
    """Block until the stub answers one request (its process has imported and started serving)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as probe:
                probe.sendall(b"POST / HTTP/1.1\r\nHost: stub\r\nContent-Length: 0\r\n\r\n")
                probe.recv(1)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _run_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


async def _run(engine: LLMDecisionEngine, calls: int, concurrency: int) -> RunTimes:
    """Start and end (monotonic clock) and client CPU seconds of ``calls`` pages."""
    persona = Persona(
        user_id="1",
        history=[f"h{i}" for i in range(50)],
        activity=0.5,
        conformity=0.5,
        diversity=0.5,
        rating_mean=3.5,
        rating_std=1.0,
        description="Enjoys thrillers and the occasional comedy.",
    )
    items = [
        ShownItem(item_id=f"i{p}", position=p, title=f"Film {p}", attributes={"genres": ["Drama"]})
        for p in range(10)
    ]
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            await engine.adecide(persona, UserState(), Page(session=0, index=index % 10, items=items))

    start, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return start, time.monotonic(), time.process_time() - cpu


def _engine(url: str, concurrency: int) -> LLMDecisionEngine:
    settings = LLMSettings(base_url=url, model="bench", max_retries=0, timeout_s=30.0, output_mode="tool")
    rate = RateLimitConfig(max_concurrency=concurrency)
    return LLMDecisionEngine(settings, LLMEngineConfig(rate=rate))


async def _client(
    url: str,
    calls: int,
    concurrency: int,
    runs: int,
    freeze_gc: bool,
    ready: Callable[[], None],
) -> list[RunTimes]:
    engine = _engine(url, concurrency)
    await _run(engine, concurrency, concurrency)  # warm-up: open the connections
    if freeze_gc:
        # Everything allocated so far (mostly imported modules) leaves the collector's view, so a
        # full collection no longer pauses the loop for ~0.1 s; long simulation runs can do the same.
        gc.freeze()
    times = []
    for _ in range(runs):
        ready()  # every client process starts the run together
        times.append(await _run(engine, calls, concurrency))
    failures = engine.stats.failures
    limiter = engine.limiter
    if limiter is not None:  # the adaptive limit must have found the ceiling, and kept it
        print(
            f"adaptive limit {limiter.limit}/{limiter.config.max_concurrency}, peak in flight "
            f"{limiter.peak_in_flight}, {limiter.raises} raises, {limiter.cuts} cuts",
            flush=True,
        )
    await engine.aclose()
    if failures:
        raise SystemExit(f"{failures} pages fell back: the benchmark's answers must all be valid")
    return times


def _client_process(args: tuple[str, int, int, int, bool], barrier: Any, results: Connection) -> None:
    results.send(_run_loop(lambda: _client(*args, ready=barrier.wait)))


def _measure(url: str, args: argparse.Namespace) -> list[list[RunTimes]]:
    """Per run, the times of each client process (one process: in this one)."""
    if args.processes == 1:
        own = (url, args.calls, args.concurrency, args.runs, args.freeze_gc)
        return [[t] for t in _run_loop(lambda: _client(*own, ready=lambda: None))]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.processes)
    share = (
        url,
        args.calls // args.processes,
        args.concurrency // args.processes,
        args.runs,
        args.freeze_gc,
    )
    pipes = [context.Pipe(duplex=False) for _ in range(args.processes)]
    workers = [context.Process(target=_client_process, args=(share, barrier, send)) for _, send in pipes]
    for worker in workers:
        worker.start()
    per_process = [receive.recv() for receive, _ in pipes]
    for worker in workers:
        worker.join()
    return [list(run) for run in zip(*per_process, strict=True)]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=960)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--freeze-gc", action="store_true", help="gc.freeze() after the warm-up")
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(
        target=_stub_server, args=(sock, args.latency_ms / 1000), daemon=True
    )
    server.start()
    _wait_until_serving(port)
    load_before = os.getloadavg()
    stub_before = _process_cpu_s(server.pid or 0)
    try:
        runs = _measure(f"http://127.0.0.1:{port}/v1", args)
    finally:
        stub_cpu = _process_cpu_s(server.pid or 0)
        server.terminate()
        server.join()
    calls = (args.calls // args.processes) * args.processes
    rows = []
    for times in runs:
        wall = max(end for _, end, _ in times) - min(start for start, _, _ in times)
        rows.append((calls / wall, 1000 * sum(cpu for _, _, cpu in times) / calls))
    ideal = args.concurrency / (args.latency_ms / 1000)
    median = statistics.median(rate for rate, _ in rows)
    cpu = statistics.median(ms for _, ms in rows)
    print(f"{'run':>6} | {'calls/s':>8} | {'client CPU ms/call':>18}")
    for i, (rate, ms) in enumerate(rows, 1):
        print(f"{i:>6} | {rate:8.1f} | {ms:18.2f}")
    print(f"{'median':>6} | {median:8.1f} | {cpu:18.2f}")
    print(f"ideal {ideal:.0f}/s -> {100 * median / ideal:.1f}% of ideal")
    if stub_before is not None and stub_cpu is not None:
        # The warm-up calls are included: a slight overestimate of the stub's cost per call.
        print(f"stub server CPU {1000 * (stub_cpu - stub_before) / (calls * args.runs):.2f} ms/call")
    print(f"client CPU bound: one free core sustains ~{1000 / cpu:.0f} calls/s")
    load_after = os.getloadavg()
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} CPUs"
    )
    print(
        f"{args.processes} process(es), gc.freeze {args.freeze_gc}, "
        f"calls per run {calls}, "
        f"concurrency {args.concurrency}, latency {args.latency_ms:g} ms"
    )


if __name__ == "__main__":
    main()
