"""``recpilot llm check URL#MODEL``: what an OpenAI-compatible endpoint can do, and the mode recpilot uses."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from recpilot.cli._common import out_console, print_json, status
from recpilot.llm.check import check_endpoint
from recpilot.llm.settings import LLM_OPTION_HELP, parse_llm_option

llm_app = typer.Typer(help="Check and configure the language model endpoint.", no_args_is_help=True)


@llm_app.command()
def check(
    target: Annotated[str, typer.Argument(help=LLM_OPTION_HELP)],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store the mode found (what 'auto' uses from then on).")
    ] = True,
) -> None:
    """Probe the endpoint: model list, plain chat, tools, tool choice, JSON modes, streaming."""
    settings = parse_llm_option(target)
    with status(f"probing {settings.describe()}", quiet=json_out):
        report = check_endpoint(settings, save=save)
    if json_out:
        print_json(report.as_json())
        return
    table = Table(title=f"{settings.model} @ {settings.endpoint}")
    for column in ("probe", "result", "latency s", "prompt tok", "output tok", "output tok/s"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail")
    for probe in report.probes:
        colour = {"ok": "green", "ignored": "yellow"}.get(probe.status, "red")
        table.add_row(
            probe.name,
            f"[{colour}]{probe.status}[/]",
            f"{probe.latency_s:.2f}",
            str(probe.prompt_tokens),
            str(probe.output_tokens),
            f"{probe.output_tokens_per_s:.1f}",
            probe.detail if len(probe.detail) <= 48 else probe.detail[:47] + "…",  # whole in --json
        )
    console = out_console()
    console.print(table)
    listed = ", ".join(report.models[:8]) or "(the server lists none)"
    console.print(f"models: {listed}")
    console.print(f"token limit field: {report.token_limit_field}")
    console.print(f"recpilot will use output mode: [bold]{report.mode}[/]")


__all__ = ["llm_app"]
