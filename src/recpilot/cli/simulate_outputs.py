"""``recpilot simulate`` outputs beside a plain run: retraining rounds, the HTML report, fidelity checks."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from recpilot.cli._common import out_console, print_json, status
from recpilot.errors import ConfigError


def run_retraining(config: Any, rounds: int, *, quiet: bool = False) -> dict[str, Any]:
    """Simulate ``rounds`` rounds with retraining in between; return the per-round table as a dictionary.

    Per-round results go to ``config.output_dir`` when it is set (see
    :func:`recpilot.simulation.rounds.run_rounds`).
    """
    import math

    from recpilot.simulation.rounds import run_rounds

    with status(f"Simulating {rounds} rounds of {config.users} users with retraining...", quiet=quiet):
        table = run_rounds(config, rounds)
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]
    return {"recommender": config.recommender, "engine": config.engine, "rounds": rows}


def print_rounds(payload: dict[str, Any]) -> None:
    """Print the per-round table of :func:`run_retraining`."""
    table = Table(title=f"Retraining {payload['recommender']} on simulated clicks, round by round")
    from recpilot.simulation.rounds import ROUND_COLUMNS

    for column in ROUND_COLUMNS:
        table.add_column(column, justify="right")
    for row in payload["rounds"]:
        table.add_row(*(cell(row[c]) for c in ROUND_COLUMNS))
    console = out_console()
    console.print(table)
    console.print("[dim]coverage: share of the catalog shown; entropy: evenness of exposure (0 to 1)[/]")
    said = [row for row in payload["rounds"] if "instructions_given" in row]
    if said:
        console.print(
            "instructions per round (given, acted on, retention with vs without): "
            + "; ".join(
                f"{row['round']}: {row['instructions_given']}, {row['instructions_acted_on']}, "
                f"{cell(row['retention_with_instructions'])} vs {cell(row['retention_without'])}"
                for row in said
            )
        )
    if payload.get("report"):
        console.print(f"report written to {payload['report']}")


def write_run_report(results_dir: str, out_path: str) -> str:
    """Render the HTML report of the run in ``results_dir`` (the report module loads only when asked)."""
    try:
        from recpilot.simulation.report import write_report
    except ImportError as exc:
        raise ConfigError(f"--report is not available in this installation ({exc})") from None
    return str(write_report(results_dir, out_path))


def run_validation(dataset: str, seed: int, max_users: int | None, json_out: bool) -> None:
    """``--validate``: the offline engine's fidelity on held-out data, as a table or JSON."""
    from recpilot.data.loaders import load_dataset
    from recpilot.simulation.fidelity import validate

    with status("Calibrating on training data and validating on held-out data...", quiet=json_out):
        report = validate(load_dataset(dataset), seed=seed, max_users=max_users)
    payload = report.to_dict()
    if json_out:
        print_json(payload)
        return
    table = Table(title=f"1:m like/dislike discrimination on {payload['users']} users (held-out items)")
    for column in ("m", "precision", "recall", "F1", "chance F1"):
        table.add_column(column, justify="right")
    for row in payload["discrimination"]:
        table.add_row(
            str(row["m"]),
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            f"{row['chance_f1']:.3f}",
        )
    console = out_console()
    console.print(table)
    console.print(
        f"held-out item clicked on {payload['heldout_click_rate']:.1%} of pages; share of clicks "
        f"{payload['heldout_click_share']:.1%} (chance {payload['chance_click_share']:.0%})"
    )
    if payload["ratings"]:
        r = payload["ratings"]
        console.print(
            f"ratings: Wasserstein {r['wasserstein']:.3f}, KL {r['kl']:.3f}, "
            f"mean {r['simulated_mean']:.2f} vs {r['real_mean']:.2f}"
        )
    p = payload["popularity"]
    console.print(
        f"popularity percentile of likes: Wasserstein {p['wasserstein']:.3f}, "
        f"mean {p['simulated_mean']:.2f} vs {p['real_mean']:.2f}"
    )


def cell(value: Any) -> str:
    """A table cell: ``-`` for missing, four significant digits for floats."""
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
