"""Free-form conversational evaluation of the agent with a simulated user (rule-based or LLM).

Targets are liked held-out (leave-last-out) items of sampled ml-latest-small users; the agent is
fitted without them. Prints success rate, SR@t by turn, average turns, leaks and errors, and writes
every transcript to ``--transcripts`` when given. Without ``--llm`` the rule-based simulator runs
(offline, deterministic).

Run: ``.venv/bin/python benchmarks/crs_freeform.py [--users 100] [--max-turns 5] [--llm URL#MODEL]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from recpilot.agent import RecommenderAgent, build_runtime
from recpilot.crs.freeform import FreeformConfig, run_freeform, sample_goals
from recpilot.data.builtin import load_builtin
from recpilot.data.splits import leave_last_out
from recpilot.llm import LLMSettings
from recpilot.simulation.crs_user import LLMUserSimulator, RuleBasedUserSimulator, UserSimulator


def main() -> int:
    """Run the conversations and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--max-turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--llm", default=None, help="The simulator's LLM as URL#MODEL (rule-based if absent)."
    )
    parser.add_argument("--collaborative", default="ease")
    parser.add_argument("--transcripts", type=Path, default=None)
    args = parser.parse_args()
    config = FreeformConfig(n_users=args.users, max_turns=args.max_turns, seed=args.seed)
    split = leave_last_out(load_builtin())
    with tempfile.TemporaryDirectory() as cache:
        roles = {"collaborative": args.collaborative, "content": "content"}
        runtime = build_runtime(split.train, roles=roles, cache_dir=cache)
        goals = sample_goals(split, config.n_users, seed=config.seed, min_rating=config.min_rating)
        simulator: UserSimulator = (
            LLMUserSimulator(LLMSettings.from_cli(args.llm)) if args.llm else RuleBasedUserSimulator()
        )
        report = run_freeform(RecommenderAgent(runtime), simulator, goals, config=config)
    if args.transcripts is not None:
        args.transcripts.write_text(json.dumps(report.model_dump(mode="json"), indent=2), encoding="utf-8")
    print(f"simulator {report.simulator}, agent {report.agent_brain}, {report.n_conversations} conversations")
    print(f"{'success rate':24}{report.success_rate:>8.3f}")
    for turn, rate in report.sr_at_turn.items():
        print(f"{'SR@' + str(turn):24}{rate:>8.3f}")
    print(f"{'average turns':24}{report.average_turns:>8.2f}")
    ats = report.average_turns_to_success
    print(f"{'turns to success':24}{(f'{ats:.2f}' if ats is not None else '-'):>8}")
    for name, value in (
        ("leaks (redacted)", report.leaks),
        ("leaking drafts retried", report.leak_retries),
        ("false accepts", report.false_accepts),
        ("errors", report.n_errors),
        ("simulator LLM calls", report.simulator_calls),
    ):
        print(f"{name:24}{value:>8}")
    print(f"{'seconds':24}{report.elapsed_s:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
