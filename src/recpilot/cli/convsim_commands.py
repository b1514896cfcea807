"""``recpilot crs-chat-eval``: free-form conversations between a simulated user and the agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.llm.settings import LLM_OPTION_HELP


def crs_chat_eval(
    llm: Annotated[
        str | None,
        typer.Option("--llm", help=f"The user simulator's LLM: {LLM_OPTION_HELP}. Without it: rule-based."),
    ] = None,
    agent_llm: Annotated[
        str | None,
        typer.Option(
            "--agent-llm", help="The agent's LLM brain (same syntax); the offline brain by default."
        ),
    ] = None,
    users: Annotated[int, typer.Option("--users", help="Conversations (one sampled user each).")] = 20,
    max_turns: Annotated[int, typer.Option("--max-turns", help="User turns per conversation.")] = 5,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Built-in name or dataset path.")] = (
        "ml-latest-small"
    ),
    model: Annotated[str, typer.Option("--model", "-m", help="The agent's collaborative model.")] = "ease",
    seed: Annotated[int, typer.Option(help="Seed for sampling users and targets.")] = 42,
    concurrency: Annotated[int, typer.Option(help="Conversations in flight at once.")] = 4,
    transcripts: Annotated[
        Path | None, typer.Option(help="Write the full report with every transcript to this JSON file.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Evaluate the agent in free-form conversations with a simulated user who has a hidden target.

    Targets are held-out (leave-last-out) items real users liked; the agent is fitted without them.
    Success means the agent showed the target within the turn budget.
    """
    from recpilot.agent import RecommenderAgent, build_runtime
    from recpilot.agent.llm_brain import build_llm_brain
    from recpilot.agent.runtime import DEFAULT_ROLES
    from recpilot.crs.freeform import FreeformConfig, run_freeform, sample_goals
    from recpilot.data.loaders import load_dataset
    from recpilot.data.splits import leave_last_out
    from recpilot.errors import ConfigError
    from recpilot.llm import LLMSettings
    from recpilot.settings import get_settings
    from recpilot.simulation.crs_user import LLMUserSimulator, RuleBasedUserSimulator, UserSimulator

    try:
        config = FreeformConfig(n_users=users, max_turns=max_turns, seed=seed, concurrency=concurrency)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = str(first["loc"][0]).replace("n_users", "users").replace("_", "-")
        raise ConfigError(f"crs-chat-eval --{option}: {first['msg']}") from None
    simulator: UserSimulator = (
        LLMUserSimulator(LLMSettings.from_cli(llm)) if llm is not None else RuleBasedUserSimulator()
    )
    brain = build_llm_brain(LLMSettings.from_cli(agent_llm)) if agent_llm is not None else None
    with status(f"Preparing the agent on {dataset} without held-out items...", quiet=json_out):
        data = load_dataset(dataset)
        split = leave_last_out(data)
        cache = get_settings().home / "crs-chat-eval" / "".join(c if c.isalnum() else "_" for c in data.name)
        runtime = build_runtime(split.train, roles={**DEFAULT_ROLES, "collaborative": model}, cache_dir=cache)
        goals = sample_goals(split, config.n_users, seed=config.seed, min_rating=config.min_rating)
    agent = RecommenderAgent(runtime, brain=brain)

    def progress(record: Any) -> None:
        if not json_out:
            err_console.print(
                f"[dim]conversation {record.index + 1}/{len(goals)}: {record.outcome}"
                + (f" on turn {record.success_turn}" if record.success_turn else "")
                + "[/]"
            )

    report = run_freeform(agent, simulator, goals, config=config, progress=progress)
    if transcripts is not None:
        transcripts.parent.mkdir(parents=True, exist_ok=True)
        transcripts.write_text(json.dumps(report.model_dump(mode="json"), indent=2), encoding="utf-8")
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    _print_report(report.summary())


def _print_report(summary: dict[str, Any]) -> None:
    table = Table(
        title=f"free-form CRS evaluation | simulator {summary['simulator']} | agent {summary['agent_brain']}"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("conversations", summary["n_conversations"]),
        ("errors", summary["n_errors"]),
        ("success rate", f"{summary['success_rate']:.3f}"),
        *((f"SR@{t}", f"{v:.3f}") for t, v in summary["sr_at_turn"].items()),
        ("average turns", f"{summary['average_turns']:.2f}"),
        ("leaks (redacted)", summary["leaks"]),
        ("leaking drafts retried", summary["leak_retries"]),
        ("false accepts", summary["false_accepts"]),
        ("simulator LLM calls", summary["simulator_calls"]),
        ("seconds", summary["elapsed_s"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    out_console().print(table)
