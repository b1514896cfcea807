"""MCR benchmark on LastFM*: random, Abs Greedy, Max Entropy and preference-weighted in one harness.

Usage::

    .venv/bin/python benchmarks/crs_mcr.py [--data-dir ../shared/data/lastfm-star-crs]
        [--env paper|ours] [--setting binary|multiple-choice] [--choices N] [--max-users N]
        [--max-pairs N] [--policies a,b,...] [--ablations] [--set field=value ...]
        [--split test|valid] [--seed S] [--json]

Setting: single target item per conversation (SCPR / UNICORN protocol), 15 turns including the user's
opening attribute, top-10 lists; binary yes/no questions unless ``--setting multiple-choice``. ``--env``
picks the candidate rules: ``paper`` (the default) follows the published simulators, ``ours`` turns every
truthful "no" into a filter (an easier task; see ``recpilot.crs.mcr.settings``). The collaborative
prior is EASE fitted on ``review_dict_train.json``; every (user, item) pair of the split is one
conversation, or ``--max-pairs`` of a seeded shuffle (the published LastFM* runs evaluate 4,000).

``--ablations`` adds two like-for-like rows under each policy: the user's negative answers ("no" to a
question, rejected lists) hidden from the policy, and the collaborative prior replaced by seeded noise.
``--set field=value`` sets a configuration field of every policy that has it (``negative_feedback``,
``recommend_probability``, ``rejected_attribute_penalty``...). The SCPR paper's LastFM* figures (Table 3)
are printed beside the rows they correspond to.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from recpilot.conversation.policy.registry import policy_class
from recpilot.crs.mcr import MCRConfig, MCRReport, load_lastfm_star, make_policy, run_mcr
from recpilot.crs.mcr.data import MCRData
from recpilot.crs.mcr.harness import build_prior
from recpilot.crs.mcr.prior import Prior

POLICIES = "random,abs-greedy,max-entropy,preference-weighted"

#: SR@15 and AT on LastFM*, binary questions, from SCPR (Lei et al., KDD 2020), Table 3.
PUBLISHED: dict[str, tuple[float, float | None]] = {
    "abs-greedy": (0.635, 8.66),
    "max-entropy": (0.669, 9.33),
}
PUBLISHED_OTHERS = "CRM 0.580, EAR 0.595, SCPR 0.709 / AT 8.43 (SCPR, Table 3)"

ABLATIONS: dict[str, dict[str, Any]] = {
    "": {},
    "no negatives": {"negatives": False},
    "random prior": {"prior": "random"},
}


def parse_overrides(items: list[str]) -> dict[str, float]:
    """``field=value`` pairs as numbers."""
    overrides: dict[str, float] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects field=value, got {item!r}")
        overrides[field.strip()] = float(value)
    return overrides


def run_policy(
    name: str, data: MCRData, config: MCRConfig, prior: Prior, overrides: dict[str, float]
) -> MCRReport:
    """One row: the policy ``name`` with the overrides its configuration accepts."""
    fields = policy_class(name).config_class.model_fields
    mine = {k: v for k, v in overrides.items() if k in fields}
    report, _ = run_mcr(make_policy(name, config, **mine), data, config, prior=prior)
    return report


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/lastfm-star-crs")
    parser.add_argument("--env", default="paper", choices=["paper", "ours"])
    parser.add_argument("--setting", default="binary", choices=["binary", "multiple-choice"])
    parser.add_argument("--choices", type=int, default=5)
    parser.add_argument("--split", default="test", choices=["test", "valid"])
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--max-pairs", type=int, default=None)
    parser.add_argument("--policies", default=POLICIES)
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="ease")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)

    start = time.perf_counter()
    data = load_lastfm_star(args.data_dir, split=args.split)
    base = MCRConfig(
        setting=args.setting,
        choices=args.choices,
        environment=args.env,
        max_users=args.max_users,
        max_pairs=args.max_pairs,
        seed=args.seed,
        model=args.model,
    )
    variants = ABLATIONS if args.ablations else {"": {}}
    configs = {label: base.model_copy(update=update) for label, update in variants.items()}
    priors = {label: build_prior(data, config) for label, config in configs.items()}
    if not args.json:
        print(f"loaded LastFM* and fitted {base.model} in {time.perf_counter() - start:.1f}s", flush=True)
    header = (
        f"{'policy':<36}{'SR@5':>7}{'SR@10':>7}{'SR@15':>7}{'AT':>7}{'hDCG':>7}{'#Q':>6}"
        f"{'#conv':>7}{'wall s':>8}   published SR@15 / AT"
    )
    rows = [header, "-" * len(header)]
    reports: list[dict[str, Any]] = []
    for name in (n.strip() for n in args.policies.split(",")):
        for label, config in configs.items():
            report = run_policy(name, data, config, priors[label], overrides)
            reports.append({**report.to_dict(), "ablation": label or "none"})
            published = PUBLISHED.get(name) if not label else None
            paper = f"   {published[0]:.3f} / {published[1]:.2f}" if published and published[1] else ""
            rows.append(
                f"{name + (', ' + label if label else ''):<36}{report.sr5:>7.3f}{report.sr10:>7.3f}"
                f"{report.sr15:>7.3f}{report.avg_turns:>7.2f}{report.hdcg:>7.3f}{report.avg_questions:>6.2f}"
                f"{report.n_conversations:>7d}{report.wall_seconds:>8.1f}{paper}"
            )
            if not args.json:
                print(rows[-1], flush=True)
    detail = f", choices={base.choices}" if base.setting == "multiple-choice" else ""
    title = (
        f"LastFM* {args.split} | {base.environment} environment | {base.setting}{detail}, single target | "
        f"{base.max_turns} turns, top-{base.k} | {reports[0]['pairs'] if reports else ''}"
        f"{' | overrides ' + str(overrides) if overrides else ''}"
    )
    if args.json:
        print(json.dumps({"environment": base.environment, "title": title, "rows": reports}, indent=2))
        return
    print(f"\n{title}\n" + "\n".join(rows))
    print(f"published, not run here: {PUBLISHED_OTHERS}")


if __name__ == "__main__":
    main()
