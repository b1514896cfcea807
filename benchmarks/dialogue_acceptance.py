"""The multi-turn acceptance set as a report: pass rate per turn and per dialogue act, and failures.

Runs every dialogue of :data:`recpilot.agent.acceptance_dialogues.DIALOGUES` (and, with
``--single``, the single-turn acceptance set) through the offline brain on the built-in MovieLens
catalog, with the act classifier chosen by ``--classifier`` (``auto``: MiniLM when the ``[embed]``
extra is installed; ``rules``; ``minilm``).

Run: ``.venv/bin/python benchmarks/dialogue_acceptance.py [--classifier rules] [--single] [--json]``
"""

from __future__ import annotations

import argparse
import json
import tempfile

from recpilot.agent import RecommenderAgent, build_runtime
from recpilot.agent.acceptance import acceptance_report
from recpilot.agent.acceptance_dialogues import dialogue_report
from recpilot.agent.offline import OfflineBrain
from recpilot.data.builtin import load_builtin
from recpilot.tools import RECOMMENDER_TOOLS


def main() -> int:
    """Run the sets and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default="auto", choices=("auto", "rules", "minilm"))
    parser.add_argument("--single", action="store_true", help="Also run the single-turn acceptance set.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        runtime = build_runtime(
            load_builtin(), roles={"collaborative": "ease", "content": "content"}, cache_dir=cache
        )
        agent = RecommenderAgent(runtime, brain=OfflineBrain(act_classifier=args.classifier))
        report = {"dialogues": dialogue_report(agent)}
        if args.single:
            single = RecommenderAgent(
                runtime, brain=OfflineBrain(act_classifier=args.classifier), tools=RECOMMENDER_TOOLS
            )
            report["single"] = acceptance_report(single)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    dialogues = report["dialogues"]
    print(
        f"multi-turn ({args.classifier}): {dialogues['passed']}/{dialogues['turns']} turns "
        f"({dialogues['pass_rate']:.1%}), {dialogues['dialogues_passed']}/{dialogues['dialogues']} "
        f"dialogues, turn latency p50 {dialogues['latency_ms']['p50']:.0f} ms, "
        f"p95 {dialogues['latency_ms']['p95']:.0f} ms"
    )
    print(f"{'act':16}{'turns':>7}{'passed':>8}")
    for act, counts in sorted(dialogues["acts"].items()):
        print(f"{act:16}{counts['turns']:>7}{counts['passed']:>8}")
    for failure in dialogues["failures"]:
        print(json.dumps(failure, ensure_ascii=False))
    if "single" in report:
        single = report["single"]
        print(f"\nsingle-turn: {single['passed']}/{single['cases']} ({single['pass_rate']:.1%})")
        for failure in single["failures"]:
            print(json.dumps(failure, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
