"""``recpilot simulate``: how simulated users react to a recommender over sessions."""

from __future__ import annotations

import functools
import tempfile
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.cli.simulate_outputs import (
    cell,
    print_rounds,
    run_retraining,
    run_validation,
    write_run_report,
)
from recpilot.errors import ConfigError

if TYPE_CHECKING:
    from recpilot.simulation.runner import SimulationRun
    from recpilot.simulation.types import SimulationResult

#: What the two session-end rates in the ``--json`` output mean.
RATE_DEFINITIONS = {
    "exit_rate": "share of sessions the user left early, before the last page",
    "completion_rate": "share of sessions in which the user reached the last page (1 - exit_rate)",
}


def simulate(
    recommender: Annotated[
        str,
        typer.Option(
            "--recommender", "-r", help="Model name (ease, als, pop, ...), 'agent', or an http(s) URL."
        ),
    ] = "ease",
    users: Annotated[
        int, typer.Option("--users", help="Simulated users (personas repeat beyond the real ones).")
    ] = 100,
    sessions: Annotated[int, typer.Option("--sessions", help="Sessions per user.")] = 1,
    pages: Annotated[int, typer.Option("--pages", help="Pages per session at most.")] = 10,
    page_size: Annotated[int, typer.Option("--page-size", help="Items per page.")] = 10,
    engine: Annotated[str, typer.Option("--engine", help="offline (calibrated, fast) or llm.")] = "offline",
    llm: Annotated[str | None, typer.Option("--llm", help="URL#MODEL for --engine llm.")] = None,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Built-in name or a dataset path.")] = (
        "ml-latest-small"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Run seed (same seed, same results).")] = 42,
    output: Annotated[
        str | None, typer.Option("--output", help="Folder for Parquet results and the journal.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run found in --output.")] = False,
    rerank: Annotated[
        bool, typer.Option("--rerank", help="Re-rank every page with the session's clicks.")
    ] = False,
    explore: Annotated[
        str | None,
        typer.Option("--explore", help="Wrap the recommender: thompson, epsilon:0.1 or linucb."),
    ] = None,
    instructions: Annotated[
        bool,
        typer.Option(
            "--instructions",
            help='Users about to leave may say why ("no more horror films"); reports retention with '
            "and without acting on it.",
        ),
    ] = False,
    instruction_probability: Annotated[
        float,
        typer.Option("--instruction-probability", help="Chance that a leaving user gives an instruction."),
    ] = 1.0,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", help="Retrain the model on the simulated clicks between R rounds."),
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (one process) or ray.")] = "local",
    workers: Annotated[
        int | None, typer.Option("--workers", help="Ray tasks (default: the cluster's CPUs).")
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", help="Users simulated at once; LLM requests in flight at most (adapts below)."
        ),
    ] = 16,
    rate: Annotated[
        float | None, typer.Option("--rate", help="LLM requests per second at most (default: no limit).")
    ] = None,
    llm_cache: Annotated[
        str | None, typer.Option("--llm-cache", help="SQLite file recording (and replaying) LLM answers.")
    ] = None,
    llm_cache_mode: Annotated[
        str,
        typer.Option("--llm-cache-mode", help="record, replay, record-or-replay or off."),
    ] = "record-or-replay",
    llm_timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="--engine llm: seconds one LLM request may take (default 30)."),
    ] = None,
    llm_max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="--engine llm: tokens one LLM answer may take (default 512)."),
    ] = None,
    chunk_users: Annotated[
        int, typer.Option("--chunk-users", help="Users per checkpointed chunk (the unit of --resume).")
    ] = 500,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check the offline engine's fidelity on held-out data instead.")
    ] = False,
    report: Annotated[
        str | None,
        typer.Option("--report", help="Write an HTML report of the run to this file (.html)."),
    ] = None,
    max_users: Annotated[
        int | None, typer.Option("--max-users", help="--validate on at most N test users.")
    ] = None,
    audit: Annotated[
        bool,
        typer.Option("--audit", help="Audit the simulator against random exposure (or --temporal)."),
    ] = False,
    recommenders: Annotated[
        str, typer.Option("--recommenders", help="--audit: comma-separated recommenders (3 or more).")
    ] = "random,pop,itemknn,ease,als,bpr",
    temporal: Annotated[
        bool, typer.Option("--temporal", help="--audit against a temporal hold-out (labelled as such).")
    ] = False,
    choice_weight: Annotated[
        float | None,
        typer.Option("--choice-weight", help="--audit: weight of choice propensity in clicks (prior 1)."),
    ] = None,
    cross_fit: Annotated[
        bool,
        typer.Option(
            "--cross-fit/--no-cross-fit",
            help="--audit: simulator and recommenders on disjoint halves of the log, roles swapped "
            "(default); --no-cross-fit: both on the whole log.",
        ),
    ] = True,
    taste: Annotated[
        str,
        typer.Option(
            "--taste",
            help="--audit: the simulator's taste term, 'consensus' (three families, favours none) or "
            "'svd' (the earlier low-rank block).",
        ),
    ] = "consensus",
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats",
            help="--audit: repetitions, each with its own halves of the log and seeds; outcomes averaged, "
            "repetitions resampled in the bootstrap.",
        ),
    ] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Simulate users meeting a recommender page by page; print CTR, ratings, session length, exits.

    ``exit_rate`` is the share of sessions the user left before the last page; ``completion_rate``
    the share in which the user reached the last page (they sum to 1). ``--rounds`` prints coverage
    and entropy of the recommended items per retraining round instead.
    """
    from recpilot.simulation.types import SimulationConfig

    if validate:
        run_validation(dataset, seed, max_users, json_out)
        return
    if audit or temporal:
        from recpilot.cli.simulate_audit import run_audit_command

        run_audit_command(
            dataset,
            recommenders,
            temporal=temporal,
            seed=seed,
            choice_weight=choice_weight,
            cross_fit=cross_fit,
            taste=taste,
            repeats=repeats,
            report=report,
            json_out=json_out,
        )
        return
    if resume and not output:
        raise ConfigError("--resume needs --output DIR (the folder of the run to continue)")
    if engine not in ("offline", "llm"):
        raise ConfigError(f"--engine {engine!r} is not known; use 'offline' or 'llm'")
    if engine != "llm" and (llm_timeout is not None or llm_max_tokens is not None):
        raise ConfigError("--timeout and --max-tokens apply to --engine llm only")
    _check_execution(backend, workers, rounds, explore, resume)
    try:
        config = SimulationConfig(
            dataset=dataset,
            users=users,
            sessions=sessions,
            pages=pages,
            page_size=page_size,
            seed=seed,
            engine=engine,  # type: ignore[arg-type]  # checked above
            llm=llm,
            recommender=recommender,
            rerank=rerank,
            explore=explore,
            instructions=instructions,
            instruction_probability=instruction_probability,
            concurrency=concurrency,
            rate=rate,
            llm_cache=llm_cache,
            llm_cache_mode=llm_cache_mode,  # type: ignore[arg-type]  # validated by the model
            llm_timeout_s=llm_timeout,
            llm_max_tokens=llm_max_tokens,
            chunk_users=chunk_users,
            output_dir=output,
        )
    except ValueError as exc:
        raise ConfigError(f"simulate {_first_error(exc)}") from None
    if rounds is not None:
        # the report reads the rounds' tables: without --output keep them in a folder meanwhile
        with tempfile.TemporaryDirectory(prefix="recpilot-rounds-") as folder:
            keep = output or (folder if report is not None else None)
            payload = run_retraining(config.model_copy(update={"output_dir": keep}), rounds, quiet=json_out)
            if report is not None and keep is not None:
                payload["report"] = write_run_report(keep, report)
        if output:
            payload["output_dir"] = output
        if json_out:
            print_json(payload)
        else:
            print_rounds(payload)
        return
    run = functools.partial(run_simulation, backend=backend, workers=workers)
    if report is None:
        payload = run(config, resume=resume, quiet=json_out)
    elif output:
        payload = run(config, resume=resume, quiet=json_out)
        payload["report"] = write_run_report(output, report)
    else:  # the report reads the result tables: keep them in a folder for the time it takes
        with tempfile.TemporaryDirectory(prefix="recpilot-sim-") as folder:
            payload = run(config.model_copy(update={"output_dir": folder}), quiet=json_out)
            payload.pop("output_dir", None)
            payload["report"] = write_run_report(folder, report)
    if json_out:
        print_json(payload)
        return
    _print_result(payload)


def _check_execution(
    backend: str, workers: int | None, rounds: int | None, explore: str | None, resume: bool
) -> None:
    """Reject combinations of execution options that cannot work, naming the options."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend {backend!r} is not known; use 'local' or 'ray'")
    if workers is not None and (backend != "ray" or workers < 1):
        raise ConfigError("--workers N (N >= 1) applies to --backend ray only")
    if rounds is not None:
        if rounds < 1:
            raise ConfigError(f"--rounds must be at least 1, got {rounds}")
        clashes = {"--resume": resume, "--backend ray": backend == "ray", "--explore": explore is not None}
        for option, given in clashes.items():
            if given:
                raise ConfigError(f"--rounds cannot be combined with {option}")
    if backend == "ray" and resume:
        raise ConfigError("--backend ray recomputes the whole run; --resume needs --backend local")


def _first_error(exc: ValueError) -> str:
    """The first problem of a config validation error, named by its option, without pydantic's links."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        option = "--" + "-".join(str(part).replace("_", "-") for part in first["loc"])
        return f"{option}: {str(first['msg']).removeprefix('Value error, ')}"
    return str(exc)


def run_simulation(
    config: Any,
    *,
    resume: bool = False,
    quiet: bool = False,
    backend: str = "local",
    workers: int | None = None,
) -> dict[str, Any]:
    """Assemble and run one simulation (in this process, or on Ray); return the summary dictionary."""
    from recpilot.simulation.assembly import build_simulation
    from recpilot.simulation.runner import SimulationRunner

    def step(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{message}...[/]")

    if backend == "ray":
        from recpilot.simulation.ray_backend import require_ray

        require_ray()  # fail before the slow preparation
    with status("Preparing the simulation...", quiet=quiet):
        run = build_simulation(config, step=step)

    def progress(done: int, total: int) -> None:
        step(f"{done}/{total} users simulated")

    try:
        if backend == "ray":
            result = _run_on_ray(run, workers, quiet)
        else:
            meter: AbstractContextManager[object] = nullcontext()
            if config.engine == "llm":  # calls/s, tokens/s and the ETA on stderr, whatever the output
                from recpilot.simulation.llm_engine import llm_progress

                meter = llm_progress(run.engine, config.users * config.sessions, config.pages)
            with meter:
                result = SimulationRunner(run, resume=resume, progress=progress).run_sync()
    finally:
        closer = getattr(run.recommender, "aclose", None)
        if closer is not None:
            import asyncio

            asyncio.run(closer())
    payload = result.to_dict()
    payload["definitions"] = RATE_DEFINITIONS
    if config.output_dir:
        payload["output_dir"] = config.output_dir
    return payload


def _run_on_ray(run: SimulationRun, workers: int | None, quiet: bool) -> SimulationResult:
    """Run on a local Ray cluster started (and stopped) here, or on the one already connected."""
    from pathlib import Path

    from recpilot.simulation.journal import Journal
    from recpilot.simulation.ray_backend import require_ray, run_on_ray

    ray = require_ray()
    if run.config.output_dir:  # refuses a folder that holds another run, like the local runner
        Journal(Path(run.config.output_dir), run.config, resume=False)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(include_dashboard=False, num_cpus=workers, log_to_driver=False)
    try:
        with status("Simulating on Ray...", quiet=quiet):
            return run_on_ray(run, shards=workers)
    finally:
        if started_here:
            ray.shutdown()


def _print_result(payload: dict[str, Any]) -> None:
    table = Table(
        title=f"Simulation {payload['run_id']}: {payload['recommender']} with the {payload['engine']} engine"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "user_sessions",
        "ctr",
        "mean_rating",
        "likes_per_session",
        "mean_session_length",
        "exit_rate",
        "completion_rate",
        "coverage",
        "diversity",
        "errors",
        "wall_time_s",
        "sessions_per_minute",
    ):
        table.add_row(key, cell(payload[key]))
    console = out_console()
    console.print(table)
    stats = payload.get("engine_stats")
    if stats:
        console.print(
            f"engine: {stats['requests']} answers for {stats['pages']} pages, "
            f"{stats['malformed']} malformed, {stats['failed']} pages fell back, "
            f"{stats['retries']} HTTP retries, tokens {stats['input_tokens']} in / "
            f"{stats['output_tokens']} out, {stats['cache_hits']} cache hits"
        )
    said = payload.get("instructions")
    if said:
        console.print(
            f"instructions: {said['given']} given, {said['acted_on']} acted on, {said['retained_after']} "
            f"users stayed past the next page; retention {cell(said['retention_with_instructions'])} with "
            f"instructions vs {cell(said['retention_without'])} without"
        )
    console.print("[dim]exit_rate: left before the last page; completion_rate: reached the last page[/]")
    if payload.get("report"):
        console.print(f"report written to {payload['report']}")
