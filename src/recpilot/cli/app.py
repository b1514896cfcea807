"""The ``recpilot`` command line: train, evaluate, recommend, demo.

Every command prints human output (tables, progress on stderr) by default and one JSON document on
stdout with ``--json``. :func:`main` returns an exit code instead of exiting, so tests call it in-process.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape
from rich.table import Table

from recpilot import __version__
from recpilot.cli._common import (
    build_models,
    err_console,
    out_console,
    print_json,
    split_csv,
    status,
)
from recpilot.data.dataset import Dataset
from recpilot.data.splits import PROTOCOLS, split_dataset
from recpilot.errors import ConfigError, RecpilotError
from recpilot.models.base import Recommender

app = typer.Typer(
    name="recpilot",
    help="recpilot: agentic recommender systems. Train, evaluate and query recommenders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="Built-in name (ml-latest-small) or a path: MovieLens folder/zip, S3-Rec .txt, CSV or Parquet.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="Model setting MODEL.FIELD=VALUE (or FIELD=VALUE for all); repeatable."
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML/JSON file with [models.NAME] class/config tables.")
]


def load_data(source: str, *, quiet: bool) -> Dataset:
    """Load a dataset by built-in name or path, with a progress spinner."""
    from recpilot.data.loaders import load_dataset

    with status(f"Loading {source}...", quiet=quiet):
        return load_dataset(source)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        out_console().print(f"recpilot {__version__}")
        raise typer.Exit(0)


@app.command()
def evaluate(
    dataset: DatasetOpt = "ml-latest-small",
    models: Annotated[str, typer.Option(help="Comma-separated model names.")] = "pop,itemknn,ease,als,bpr",
    protocol: Annotated[
        str, typer.Option(help=f"Split protocol: {', '.join(PROTOCOLS)}.")
    ] = "leave-last-out",
    k: Annotated[int, typer.Option(help="Cut-off for ranking metrics.")] = 10,
    sampled: Annotated[
        int,
        typer.Option(help="Rank among N sampled negatives instead of all items (labelled in the output)."),
    ] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampling and bootstrap.")] = 42,
    test_fraction: Annotated[
        float, typer.Option(help="Held-out fraction (temporal/random protocols).")
    ] = 0.2,
    per_user: Annotated[Path | None, typer.Option(help="Write per-user metrics to this CSV file.")] = None,
    param: ParamOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Split a dataset, fit models on the training part, report ranking metrics with confidence intervals."""
    from recpilot.evaluation import FullRanking, SampledNegatives
    from recpilot.evaluation import evaluate as run_evaluation

    if k < 1:
        raise ConfigError(f"--k must be a positive integer, got {k}")
    names = split_csv(models)
    built = build_models(names, param or [], config)
    data = load_data(dataset, quiet=json_out)
    split = split_dataset(data, protocol, test_fraction=test_fraction, seed=seed)
    ranking = SampledNegatives(n_negatives=sampled, seed=seed) if sampled > 0 else FullRanking()

    def progress(message: str) -> None:  # stderr, so --json output on stdout stays clean
        err_console.print(f"[dim]{message}[/]")

    report = run_evaluation(
        built, split, k=k, protocol=ranking, n_bootstrap=bootstrap, seed=seed, progress=progress
    )
    if per_user is not None:
        per_user.parent.mkdir(parents=True, exist_ok=True)
        report.per_user_frame().to_csv(per_user, index=False)
    payload = report.to_dict()
    if json_out:
        print_json(payload)
        return
    _print_report(payload)


def _print_report(payload: dict[str, Any]) -> None:
    k = payload["k"]
    table = Table(
        title=(
            f"{payload['dataset']} | {payload['protocol']} | {payload['ranking']} | "
            f"{payload['n_users']} test users"
        )
    )
    columns = [f"ndcg@{k}", f"recall@{k}", f"mrr@{k}", "coverage", "fit_seconds", "recommend_seconds"]
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    for name, result in payload["models"].items():
        if "error" in result:
            table.add_row(name, f"[red]error: {result['error']}[/]", *[""] * (len(columns) - 1))
            continue
        cells = []
        for column in columns:
            value = result.get(column)
            interval = result.get("ci", {}).get(column)
            text = (
                "-"
                if value is None
                else f"{value:.4f}"
                if column.startswith(("ndcg", "recall", "mrr"))
                else f"{value:.3g}"
            )
            if interval is not None:
                text += f" [dim]±{(interval[1] - interval[0]) / 2:.4f}[/]"
            cells.append(text)
        table.add_row(name, *cells)
    out_console().print(table)


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Model name or dotted class path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to save the fitted model in.")],
    dataset: DatasetOpt = "ml-latest-small",
    param: ParamOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit one model on a whole dataset and save it."""
    recommender = build_models([model], param or [], config)[model]
    data = load_data(dataset, quiet=json_out)
    with status(f"Fitting {model} on {data.name}...", quiet=json_out):
        recommender.fit(data)
    path = recommender.save(output)
    payload = {
        "model": model,
        "spec": recommender.spec(),
        "dataset": data.describe(),
        "fit_seconds": recommender.fit_seconds,
        "path": str(path),
    }
    if json_out:
        print_json(payload)
    else:
        out_console().print(
            f"Fitted [bold]{model}[/] on {data.name} in {recommender.fit_seconds:.2f}s -> {path}"
        )


@app.command()
def recommend(
    user: Annotated[str | None, typer.Option("--user", "-u", help="A known user id.")] = None,
    history: Annotated[
        str | None, typer.Option(help="Comma-separated item ids (a new user's history).")
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model to fit when --model-dir is not given.")
    ] = "ease",
    model_dir: Annotated[Path | None, typer.Option(help="A model saved by `recpilot train`.")] = None,
    dataset: DatasetOpt = "ml-latest-small",
    k: Annotated[int, typer.Option(help="How many items.")] = 10,
    exclude: Annotated[str, typer.Option(help="Comma-separated item ids never to return.")] = "",
    param: ParamOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Top-k recommendations with titles for a known user or an ad-hoc history."""
    if (user is None) == (history is None):
        raise ConfigError("give exactly one of --user ID or --history ITEM,ITEM,...")
    if k < 1:
        raise ConfigError(f"--k must be a positive integer, got {k}")
    data = load_data(dataset, quiet=json_out)
    if model_dir is not None:
        recommender: Recommender[Any] = Recommender.load(model_dir)
        if len(recommender.item_map) != data.n_items or not (recommender.item_map == data.items):
            raise ConfigError(
                f"model in {model_dir} was trained on {recommender.trained_on!r}, whose catalog differs from "
                f"--dataset {dataset!r}; pass the dataset it was trained on"
            )
    else:
        recommender = build_models([model], param or [])[model]
        with status(f"Fitting {model}...", quiet=json_out):
            recommender.fit(data)
    if user is not None:  # a known user: their remembered likes, dislikes and feed rules apply too
        recommender.user_map.index_of(
            _coerce_id(user, recommender.user_map.external_ids), hint="use --history for a new user"
        )
    from recpilot.cli.agent_commands import recommend_with_pipeline
    from recpilot.ranking import explanation

    recs = recommend_with_pipeline(
        recommender,
        data,
        user=user,
        history=split_csv(history) if history is not None else None,
        k=k,
        exclude=split_csv(exclude),
        quiet=json_out,
    )
    rows = [
        {
            "rank": entry.rank,
            "item_id": str(entry.item_id),
            "title": title,
            "score": entry.score,
            "explanation": explanation(reasons),
            "reasons": [reason.model_dump(mode="json") for reason in reasons],
        }
        for entry, title, reasons in zip(
            recs, data.titles(data.items.to_internal(recs.ids())), recs.reasons, strict=True
        )
    ]
    if json_out:
        given = split_csv(history) if history is not None else None
        print_json({"user": user, "history": given, "model": recs.model, "items": rows})
        return
    table = Table(
        title=f"Top {k} from {recommender.name} for " + (f"user {user}" if user else "the given history")
    )
    for column in ("rank", "item_id", "title", "score", "why"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for row in rows:
        score = f"{row['score']:.4f}"
        table.add_row(
            str(row["rank"]), str(row["item_id"]), str(row["title"]), score, str(row["explanation"])
        )
    out_console().print(table)


def _coerce_id(raw: str, known: Any) -> object:
    """CLI ids arrive as strings; match the dataset's id type (ints for MovieLens)."""
    if len(known) and getattr(known, "dtype", None) is not None and known.dtype.kind in "iu":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"id {raw!r} is not an integer, but this dataset's ids are integers") from None
    return raw


@app.command()
def demo(
    json_out: JsonOpt = False,
    models: Annotated[str, typer.Option(help="Comma-separated model names.")] = "pop,itemknn,ease,als,bpr",
    user: Annotated[int, typer.Option(help="The sample user to recommend for.")] = 1,
    converse: Annotated[bool, typer.Option(help="Hold a short conversation with the offline agent.")] = True,
) -> None:
    """The main job on the embedded default: built-in MovieLens, train, evaluate, recommend. No network."""
    from recpilot.cli.demo import run_demo

    run_demo(split_csv(models), sample_user=user, json_out=json_out, converse=converse)


def _register_commands() -> None:
    """Commands that live in their own modules (one module per paradigm or interface)."""
    from recpilot.cli.agent_commands import ask, chat, rules
    from recpilot.cli.crs_commands import crs_eval

    app.command()(ask)
    app.command()(chat)
    app.command()(rules)
    app.command(name="crs-eval")(crs_eval)

    from recpilot.cli.convsim_commands import crs_chat_eval

    app.command("crs-chat-eval")(crs_chat_eval)

    from recpilot.cli.serve_commands import keys_app, mcp, serve

    app.command()(serve)
    app.command()(mcp)
    app.add_typer(keys_app, name="keys")

    from recpilot.cli.simulate_commands import simulate

    app.command()(simulate)

    from recpilot.cli.llm_commands import llm_app

    app.add_typer(llm_app, name="llm")


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="recpilot", standalone_mode=False)
    except RecpilotError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show(file=sys.stderr)
        return int(exc.exit_code)
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
