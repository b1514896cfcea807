"""ReDial dialogue understanding: extraction of likes/dislikes, title mapping, recall@k of accepted films.

On the ReDial test split (``<shared data>/redial-test``) against the built-in ml-latest-small catalog:

- extraction precision/recall of the films the seeker liked and disliked (text only; the workers'
  agreed labels are the truth), and how often the offline parser finds a genre or period;
- coverage of the ReDial movie list mapped to MovieLens by normalised title and year;
- recall@k (k = 1, 5, 10, 20) at every recommender turn suggesting a film the seeker accepted: the
  agent given the extracted preferences as one message, the agent given the labelled preferences (an
  extraction oracle), the collaborative model on the extracted likes, popularity, and with
  ``--replay`` the agent after the seeker's own messages replayed into one session.

Run: ``.venv/bin/python benchmarks/redial_understanding.py [--dialogues 300] [--replay] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from recpilot.agent import build_runtime
from recpilot.crs.redial import load_movie_names, load_redial
from recpilot.crs.redial_eval import KS, RedialReport, evaluate_redial
from recpilot.data.builtin import load_builtin
from recpilot.testing.backends import shared_data_dir


def main() -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "redial-test")
    parser.add_argument("--dialogues", type=int, default=None, help="Only the first N dialogues.")
    parser.add_argument("--collaborative", default="ease", help="The agent's collaborative model.")
    parser.add_argument("--replay", action="store_true", help="Also replay seeker turns into a session.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    dialogues = load_redial(args.data / "test_data.jsonl", limit=args.dialogues)
    names = load_movie_names(args.data / "movies_with_mentions.csv")
    with tempfile.TemporaryDirectory() as cache:
        roles = {"collaborative": args.collaborative, "content": "content"}
        runtime = build_runtime(load_builtin(), roles=roles, cache_dir=cache)

        def progress(done: int, total: int) -> None:
            if done % 100 == 0 or done == total:
                print(f"  {done}/{total} recommender turns", file=sys.stderr)

        report = evaluate_redial(runtime, dialogues, names, replay=args.replay, progress=progress)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        print_tables(report)
    return 0


def print_tables(report: RedialReport) -> None:
    """The three tables: extraction, mapping, recall@k."""
    ex, mp = report.extraction, report.mapping
    print(f"\nExtraction over {ex.dialogues} dialogues (truth: agreed worker labels)")
    print(f"{'':10} {'precision':>10} {'recall':>8} {'labelled':>9}")
    print(f"{'liked':10} {ex.liked_precision:>10.3f} {ex.liked_recall:>8.3f} {ex.liked_truth:>9}")
    print(f"{'disliked':10} {ex.disliked_precision:>10.3f} {ex.disliked_recall:>8.3f} {ex.disliked_truth:>9}")
    print(f"dialogues with a parsed genre: {ex.with_genres:.3f}, with a parsed period: {ex.with_years:.3f}")
    print("\nMapping ReDial films to ml-latest-small (normalised title + year)")
    print(
        f"movie list: {mp.mapped}/{mp.movies} films ({mp.mapped / max(1, mp.movies):.3f}), "
        f"{mp.mention_share:.3f} of all mentions"
    )
    print(
        f"films in these dialogues: {mp.dialogue_mapped}/{mp.dialogue_movies} "
        f"({mp.dialogue_mapped / max(1, mp.dialogue_movies):.3f})"
    )
    print(f"\nRecall@k of accepted suggestions over {report.turns} recommender turns")
    print(f"{'method':28}" + "".join(f"{'R@' + str(k):>8}" for k in KS))
    for method, by_k in report.recall.items():
        print(f"{method:28}" + "".join(f"{by_k.get(k, float('nan')):>8.4f}" for k in KS))
    total = sum(report.acts.values())
    print(f"\nDialogue acts of {total} seeker turns (offline brain rules; shown = the films last suggested)")
    for act, count in report.acts.items():
        print(f"{act:28}{count:>8}{count / max(1, total):>8.3f}")
    print(f"\n{report.elapsed_s:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
