"""``recpilot crs-eval``: the multi-round conversational recommendation benchmark on LastFM*."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.llm.settings import LLM_OPTION_HELP


def crs_eval(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="LastFM* folder (Graph_generate_data/, UI_Interaction_data/).")
    ],
    policy: Annotated[
        str,
        typer.Option(help="random, abs-greedy, max-entropy, preference-weighted or llm."),
    ] = "preference-weighted",
    max_users: Annotated[
        int | None, typer.Option(help="Converse with the test pairs of a seeded sample of N users.")
    ] = None,
    max_pairs: Annotated[
        int | None,
        typer.Option(help="Converse on N pairs of a seeded shuffle (the published LastFM* runs use 4000)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the openings and the user and pair samples.")] = 0,
    setting: Annotated[
        str, typer.Option(help="binary (yes/no questions) or multiple-choice (several attributes).")
    ] = "binary",
    env: Annotated[
        str,
        typer.Option(
            "--env",
            help="Candidate rules: paper (the published UNICORN/MCMIPL simulators: a rejected attribute "
            "keeps the binary candidates) or ours (truthful negatives as filters, an easier task).",
        ),
    ] = "paper",
    choices: Annotated[int, typer.Option(help="Attributes per multiple-choice question.")] = 5,
    model: Annotated[str, typer.Option(help="Collaborative model for the prior (registry name).")] = "ease",
    random_prior: Annotated[
        bool, typer.Option("--random-prior", help="Ablation: seeded noise in place of the model's prior.")
    ] = False,
    negatives: Annotated[
        bool,
        typer.Option(
            "--negatives/--no-negatives",
            help="Tell the policy the user's 'no' answers and rejected lists (--no-negatives: ablation).",
        ),
    ] = True,
    split: Annotated[str, typer.Option(help="Pairs to converse on: test or valid.")] = "test",
    llm: Annotated[str | None, typer.Option("--llm", help=LLM_OPTION_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Run simulated MCR conversations (SCPR/UNICORN protocol) and report SR@5/10/15, AT and hDCG."""
    from recpilot.conversation.policy.registry import policy_class
    from recpilot.crs.mcr import ENVIRONMENTS, MCRConfig, load_lastfm_star, make_policy, run_mcr
    from recpilot.errors import ConfigError

    policy_class(policy)  # an unknown name fails before any data is read
    if setting not in ("binary", "multiple-choice"):
        raise ConfigError(f"--setting must be binary or multiple-choice, got {setting!r}")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"--env must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    if choices < 2:
        raise ConfigError(f"--choices must be at least 2, got {choices}")
    if split not in ("test", "valid"):
        raise ConfigError(f"--split must be test or valid, got {split!r}")
    for option, value in (("--max-users", max_users), ("--max-pairs", max_pairs)):
        if value is not None and value < 1:
            raise ConfigError(f"{option} must be a positive integer, got {value}")
    config = MCRConfig(
        seed=seed,
        max_users=max_users,
        max_pairs=max_pairs,
        prior="random" if random_prior else "model",
        negatives=negatives,
        setting=setting,  # type: ignore[arg-type]
        model=model,
        environment=env,
        choices=choices,
    )
    extra: dict[str, Any] = {}
    if policy == "llm" and llm is not None:
        from recpilot.llm import LLMSettings

        extra["model"] = LLMSettings.from_cli(llm)
    built = make_policy(policy, config, **extra)
    with status(f"Loading LastFM* from {data_dir}...", quiet=json_out):
        data = load_lastfm_star(data_dir, split=split)

    def progress(done: int, total: int) -> None:
        if not json_out:
            err_console.print(f"[dim]{done}/{total} conversations[/]")

    report, _ = run_mcr(built, data, config, progress=progress)
    payload = report.to_dict()
    if json_out:
        print_json(payload)
        return
    table = Table(
        title=f"{payload['dataset']} | {payload['setting']} | {payload['pairs']} | "
        f"prior {payload['prior_model']}{'' if negatives else ' | negatives hidden from the policy'}"
    )
    columns = ["sr@5", "sr@10", "sr@15", "avg_turns", "hdcg", "wall_seconds"]
    table.add_column("policy")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(payload["policy"], *[f"{payload[c]:.3f}" for c in columns])
    out_console().print(table)
