"""MCR benchmark on LastFM*: random, Abs Greedy, Max Entropy and preference-weighted in one harness.

Usage::

    .venv/bin/python benchmarks/crs_mcr.py [--data-dir ../shared/data/lastfm-star-crs]
        [--env ours|paper] [--setting binary|multiple-choice] [--choices N] [--max-users N]
        [--policies a,b,...] [--set field=value ...] [--split test|valid] [--seed S]

Setting: single target item per conversation (SCPR / UNICORN protocol), 15 turns including the user's
opening attribute, top-10 lists; binary yes/no questions unless ``--setting multiple-choice``. ``--env``
picks the candidate rules: ``ours`` drops every item inconsistent with an answer, ``paper`` follows the
published simulators (see ``recpilot.conversation.mcr.settings``). The collaborative prior is EASE fitted
on ``review_dict_train.json``; every (user, item) pair of the split is one conversation. ``--set`` passes
configuration fields to the preference-weighted policy (an ablation such as
``--set rejected_attribute_penalty=0``). Policies run one after another; each row reports its wall and
CPU seconds.
"""

from __future__ import annotations

import argparse
import time

from recpilot.conversation.mcr import CollaborativePrior, MCRConfig, load_lastfm_star, make_policy, run_mcr

POLICIES = "random,abs-greedy,max-entropy,preference-weighted"


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/lastfm-star-crs")
    parser.add_argument("--env", default="ours", choices=["ours", "paper"])
    parser.add_argument("--setting", default="binary", choices=["binary", "multiple-choice"])
    parser.add_argument("--choices", type=int, default=5)
    parser.add_argument("--split", default="test", choices=["test", "valid"])
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--policies", default=POLICIES)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="ease")
    args = parser.parse_args()
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}

    start = time.perf_counter()
    data = load_lastfm_star(args.data_dir, split=args.split)
    config = MCRConfig(
        setting=args.setting,
        choices=args.choices,
        environment=args.env,
        max_users=args.max_users,
        seed=args.seed,
        model=args.model,
    )
    prior = CollaborativePrior.fit(data, config.model, exclude_history=config.exclude_history)
    print(f"loaded LastFM* and fitted {config.model} in {time.perf_counter() - start:.1f}s")
    header = (
        f"{'policy':<22}{'SR@5':>8}{'SR@10':>8}{'SR@15':>8}{'AT':>8}{'hDCG':>8}{'#Q':>7}"
        f"{'#conv':>8}{'wall s':>9}{'cpu s':>8}"
    )
    rows = [header, "-" * len(header)]
    for name in args.policies.split(","):
        name = name.strip()
        extra = overrides if name == "preference-weighted" else {}
        cpu = time.process_time()
        report, _ = run_mcr(make_policy(name, config, **extra), data, config, prior=prior)
        rows.append(
            f"{report.policy:<22}{report.sr5:>8.3f}{report.sr10:>8.3f}{report.sr15:>8.3f}"
            f"{report.avg_turns:>8.2f}{report.hdcg:>8.3f}{report.avg_questions:>7.2f}"
            f"{report.n_conversations:>8d}{report.wall_seconds:>9.1f}{time.process_time() - cpu:>8.1f}"
        )
        print(rows[-1], flush=True)
    detail = f", choices={config.choices}" if config.setting == "multiple-choice" else ""
    ablation = f" | preference-weighted {overrides}" if overrides else ""
    print(
        f"\nLastFM* {args.split} | {config.setting}{detail}, single target | {config.environment} environment"
        f" | {config.max_turns} turns, top-{config.k}{ablation}"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
