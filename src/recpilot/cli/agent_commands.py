"""``recpilot ask`` and ``recpilot chat``: talk to the recommender agent."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.llm.settings import LLM_OPTION_HELP

LlmOpt = Annotated[
    str | None,
    typer.Option("--llm", help=LLM_OPTION_HELP),
]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Built-in name or dataset path.")]


def build_agent(dataset: str, llm: str | None, *, quiet: bool) -> Any:
    """The agent over ``dataset`` with persistent store, cached models and memory under the settings home."""
    from recpilot.agent import RecommenderAgent, build_runtime
    from recpilot.data.loaders import load_dataset
    from recpilot.settings import get_settings

    settings = get_settings()
    with status(f"Preparing the agent on {dataset}...", quiet=quiet):
        data = load_dataset(dataset)
        home = settings.home / _slug(data.name)
        home.mkdir(parents=True, exist_ok=True)
        store_url = settings.store_url or f"sqlite:///{home / 'recpilot.db'}"
        runtime = build_runtime(data, store_url=store_url, cache_dir=home / "models")
    brain = None
    if llm is not None:
        from recpilot.llm import LLMSettings, build_llm_brain

        brain = build_llm_brain(LLMSettings.from_cli(llm))
    return RecommenderAgent(runtime, brain=brain)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "dataset"


def ask(
    message: Annotated[str, typer.Argument(help="What you want, in your own words.")],
    user: Annotated[str, typer.Option("--user", "-u", help="User id (unknown: cold start).")] = "1",
    session: Annotated[str | None, typer.Option(help="Dialogue session id.")] = None,
    dataset: DatasetOpt = "ml-latest-small",
    llm: LlmOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Ask the recommender agent once."""
    agent = build_agent(dataset, llm, quiet=json_out)
    response = agent.respond(user, message, session_id=session)
    if json_out:
        print_json(response.model_dump(mode="json"))
        return
    _print_response(response)


def chat(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")] = "1",
    session: Annotated[str | None, typer.Option(help="Dialogue session id.")] = None,
    dataset: DatasetOpt = "ml-latest-small",
    llm: LlmOpt = None,
) -> None:
    """A conversation with the agent in the terminal (type 'quit' or Ctrl-D to leave)."""
    agent = build_agent(dataset, llm, quiet=False)
    console = out_console()
    console.print("[bold]recpilot chat[/] — tell me what you'd like to watch. Type 'quit' to leave.")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if line.strip().lower() in {"quit", "exit", ":q"}:
            break
        if not line.strip():
            continue
        _print_response(agent.respond(user, line, session_id=session))


def _print_response(response: Any) -> None:
    console = out_console()
    console.print(f"[bold green]recpilot>[/] {response.reply}")
    if response.items:
        table = Table(show_header=True, header_style="bold")
        for column in ("#", "title", "why"):
            table.add_column(column, justify="right" if column == "#" else "left")
        for rank, item in enumerate(response.items, start=1):
            why = "; ".join(reason.text for reason in item.reasons[:3])
            table.add_row(str(rank), item.title, why)
        console.print(table)
    if response.degraded:
        err_console.print("[yellow]note: the language model was unavailable; the offline brain answered[/]")
