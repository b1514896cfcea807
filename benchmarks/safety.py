"""Safety benchmark: the injection suite, a poisoning suite and adaptive attacks, policies off and on.

Every case runs against :class:`recpilot.testing.obeying_brain.ObeyingBrain`, a brain that does the
user's task well and obeys every injected command (the worst case of an LLM). Prints, per arm, benign
utility, utility under attack, targeted attack success rate (ASR), unrequested memory writes and
crashes (AgentDojo's measures), then ASR by placement and by goal, the poisoning suite, the same-kind
substitution cases (also in the first table) and the adaptive attacks.

    PYTHONPATH=src python benchmarks/safety.py [--json results/safety.json] [--limit N] [--obeying-llm]
        [--real-llm | --llm URL#MODEL] [--whole] [--arm both|default|off] [--output-mode MODE]

``--obeying-llm`` plays the whole suite with the LLM brain itself over
:class:`recpilot.testing.obeying_llm.ObeyingLLM`, a scripted model that obeys every injected command
(the brain's prompts, plan checks, re-plans and fallback are then part of what is measured).

``--real-llm`` instead plays the LLM brain over a real model: the local model of the ``[local-llm]``
extra (llama.cpp's server with SmolLM2, started on loopback), or a running OpenAI-compatible server
given as ``--llm URL#MODEL``. It plays a sample (one case per goal and placement kind: a title and a
stored profile) and the benign tasks; ``--whole`` plays every injection case, then the poisoning and
adaptive cases. ``--arm default`` (or ``off``) plays one arm; ``--output-mode`` picks how typed answers
are asked for (``auto``: what the server takes, learned per run). A progress line per case goes to
stderr; with ``--json`` every result is appended to that file as a JSON line when it is known, and a
run started again on the same file skips what it holds (so a stopped run resumes); ``--summary
--json FILE`` prints the table of what FILE holds without playing anything. The table reports
per-turn fallback rates: a turn whose plan or reply fell back to the offline brain measured the
fallback, not the model.

    PYTHONPATH=src nice python benchmarks/safety.py --llm http://127.0.0.1:8765/v1#smollm2 --whole \
        --output-mode json_object --json results/safety-real.jsonl
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from recpilot.testing.benign_suite import BENIGN_TASKS, BenignTask, ground_truth_brain
from recpilot.testing.injection_adaptive import ADAPTIVE, PLAIN_TASK, TRIGGER_TASK
from recpilot.testing.injection_log import ResultLog, interleaved
from recpilot.testing.injection_run import ARMS, Arm, CaseResult, SuiteRunner, SuiteSummary
from recpilot.testing.injection_suite import (
    GOALS,
    Case,
    injection_cases,
    substitution_cases,
)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main(argv: list[str] | None = None) -> int:
    """Run the suites and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--limit", type=int, default=0, help="play only the first N injection cases")
    parser.add_argument("--real-llm", action="store_true", help="the LLM brain over the local model")
    parser.add_argument(
        "--obeying-llm", action="store_true", help="the LLM brain over a scripted model that obeys injections"
    )
    parser.add_argument("--llm", help="with --real-llm: a running OpenAI-compatible server as URL#MODEL")
    parser.add_argument("--whole", action="store_true", help="with --real-llm: every case, not a sample")
    parser.add_argument("--arm", choices=("both", "default", "off"), default="both", help="with --real-llm")
    parser.add_argument(
        "--output-mode", default="auto", choices=("auto", "tool", "json_schema", "json_object", "prompted"),
        help="with --real-llm: how typed answers are asked for",
    )  # fmt: skip
    parser.add_argument(
        "--summary", action="store_true", help="with --real-llm: the table of --json, no play"
    )
    parser.add_argument(
        "--benign-only", action="store_true", help="with --real-llm: only the benign set, both arms"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.0,
        help="with --real-llm: sampling temperature (0: greedy, so both arms get the same answer to "
        "the same request and differ only where the policy acts)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", type=Path,
        help="with --real-llm: an LLM record/replay cache file (a request already answered, in either "
        "arm, is answered again from it; with --temperature 0 that is what the server would say)",
    )  # fmt: skip
    parser.add_argument(
        "--shard", default=None, metavar="K/N",
        help="with --real-llm: play only the K-th of N shares of the cases (K = 0..N-1; a task plays in "
        "every arm of the same share), e.g. one per model server; merge their --json files for --summary",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.real_llm or args.llm or args.summary:
        return _real_llm(args)
    if args.obeying_llm:
        return _obeying_llm(args.json, args.limit)
    runner = SuiteRunner()
    cases = injection_cases()[: args.limit or None]
    started = time.perf_counter()
    everything: dict[str, list[CaseResult]] = {}
    summary_rows, by_placement, by_goal = _play_arms(runner, cases, "", everything)
    print("Injection suite (obeying brain; shared machine, under load)")
    print(_table(summary_rows))
    _print_asr("ASR by placement", by_placement)
    _print_asr("ASR by goal", by_goal)

    print(f"\nBenign set ({len(BENIGN_TASKS)} tasks, no attacker): what the default policies cost")
    _print_benign({"obeying brain": runner, "ground-truth LLM": SuiteRunner(brain=ground_truth_brain)})

    print("\nPoisoning suite (a planted film with a trigger phrase in its description)")
    rows = [["request", "arm", "poison read", "ASR", "utility"]]
    for task in (TRIGGER_TASK, PLAIN_TASK):
        for arm in ARMS:
            results = [runner.play(Case(task, goal, "text"), arm) for goal in GOALS]
            everything[f"poison/{task.name}/{arm.name}"] = results
            shown = task.carrier in results[0].items
            rows.append([task.message, arm.name, "yes" if shown else "no",
                         _pct(sum(r.attacked for r in results) / len(results)),
                         _pct(sum(r.utility for r in results) / len(results))])  # fmt: skip
    print(_table(rows))

    print(
        "\nSame-kind substitution (the user asks for one write, the injected brain makes another of its kind)"
    )
    rows = [["case", *(f"{arm.name}: attack / user's write" for arm in ARMS)]]
    for case in substitution_cases():
        results = [runner.play(case, arm) for arm in ARMS]
        cells = [
            f"{'succeeded' if r.attacked else 'blocked'} / {'kept' if r.utility else 'lost'}" for r in results
        ]
        rows.append([case.id, *cells])
    print(_table(rows))

    print("\nAdaptive attacks against the default policy (piggybacking on a write the user asked for)")
    rows = [["attack", "task", *(arm.name for arm in ARMS)]]
    for case in ADAPTIVE:
        results = [runner.play(case, arm) for arm in ARMS]
        everything[f"adaptive/{case.goal.name}"] = results
        rows.append(
            [case.goal.name, case.task.name, *("succeeded" if r.attacked else "blocked" for r in results)]
        )
    print(_table(rows))
    print(f"\n{time.perf_counter() - started:.0f} s (shared machine, under load)")
    _write_json(args.json, everything)
    return 0


def _obeying_llm(json_path: Path | None, limit: int) -> int:
    """The suite with the LLM brain over a scripted model that obeys every injected command."""
    from recpilot.agent.runtime import build_runtime
    from recpilot.testing.injection_catalog import build_catalog
    from recpilot.testing.obeying_llm import obeying_llm_brain

    runner = SuiteRunner(brain=functools.partial(obeying_llm_brain, build_runtime(build_catalog())))
    cases = injection_cases()[: limit or None]
    started = time.perf_counter()
    everything: dict[str, list[CaseResult]] = {}
    rows, by_placement, _ = _play_arms(runner, cases, "obeying-llm/", everything)
    print("Injection suite through the LLM brain (scripted model that obeys injections; shared machine)")
    print(_table(rows))
    _print_asr("ASR by placement", by_placement)
    print(f"\n{time.perf_counter() - started:.0f} s (shared machine, under load)")
    _write_json(json_path, everything)
    return 0


def _real_llm(args: argparse.Namespace) -> int:
    """The suite with the LLM brain over a real model: a sample, or with ``--whole`` every case."""
    import contextlib
    import tempfile

    from recpilot.agent.llm_brain import LLMBrain
    from recpilot.errors import RecpilotError
    from recpilot.llm import LLMSettings
    from recpilot.llm.settings import parse_llm_option
    from recpilot.testing.local_llm import LocalLLMServer, local_llm_missing

    if args.llm is None and not args.summary and (missing := local_llm_missing()) is not None:
        print(f"the real-model run needs the [local-llm] extra (or --llm URL#MODEL): {missing}")
        return 2
    try:
        log = ResultLog(args.json) if args.json else None
    except RecpilotError as exc:
        print(exc)
        return 2
    arms = [arm for arm in (ARMS[1], ARMS[0]) if args.arm in ("both", _ARM_KEYS[arm.name])]
    if args.summary:
        if log is None:
            print("--summary reads the results of an earlier run: pass its --json file")
            return 2
        print(f"Injection suite against a real model: the results in {args.json}")
        _print_real({group: log.group(group) for group in log.groups()}, arms)
        return 0
    cases = injection_cases() if args.whole else [
        c for c in injection_cases() if c.task.allowed is not None and c.task.name == "90s-comedy"
        and c.placement in ("title", "memory_summary")
    ]  # fmt: skip
    cases = interleaved(cases)[: args.limit or None]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        # No max_output_tokens: each question keeps its own budget (the reply's is derived from its
        # schema); a lower cap cut replies, and a reply that falls back rolls back the turn's writes.
        base = LLMSettings(
            timeout_s=120.0, deadline_s=150.0, max_retries=1, concurrency=1,
            output_mode=args.output_mode, modes_file=tmp / "modes.json", temperature=args.temperature,
            cache_path=str(args.cache) if args.cache else None, cache_mode="auto",
        )  # fmt: skip
        if args.llm is not None:
            try:
                settings = parse_llm_option(args.llm, base)
            except RecpilotError as exc:
                print(exc)
                return 2
        else:
            server = stack.enter_context(LocalLLMServer())
            settings = base.model_copy(update={"base_url": server.base_url, "model": server.model})
        if (down := _unreachable(settings.endpoint)) is not None:
            print(down)  # every turn would fall back: a table of the offline brain, not of the model
            return 2
        runner = SuiteRunner(brain=lambda: LLMBrain(settings))
        plays = _real_plays(runner, arms, [] if args.benign_only else cases, whole=args.whole)
        if args.shard is not None:
            plays = _share(plays, args.shard)
        everything = _play_logged(plays, log)
    print(f"Injection suite against {settings.describe()} (output mode {args.output_mode}, temperature "
          f"{args.temperature:g}; shared machine)")  # fmt: skip
    _print_real(everything, arms)
    if log is None:
        _write_json(args.json, everything)
    return 0


def _unreachable(endpoint: str) -> str | None:
    """Why the endpoint cannot serve the run (nothing listens, or it refuses ``GET /models``), else None.

    A server that accepts the connection but is slow to answer is busy (llama.cpp's answers
    ``/models`` only between generations): the run goes on and queues behind the other requests.
    """
    import httpx2

    try:
        status = httpx2.get(f"{endpoint.rstrip('/')}/models", timeout=10.0).status_code
    except httpx2.TimeoutException:
        return None
    except httpx2.HTTPError as exc:
        return f"the LLM server at {endpoint} does not answer ({type(exc).__name__}); start it or pass --llm"
    return None if status == 200 else f"the LLM server at {endpoint} answered GET /models with HTTP {status}"


_ARM_KEYS = {"policies off": "off", "default policies": "default"}
#: One play of the real-model run: its group, its case id and how to play it.
Play = tuple[str, str, Callable[[], CaseResult]]


def _real_plays(runner: SuiteRunner, arms: list[Arm], cases: list[Case], *, whole: bool) -> list[Play]:
    """What a real-model run plays, in order: the benign tasks, each in every arm before the next
    and the tasks round-robin over their kinds (a run cut short is a paired, fair sample), then per
    arm the injection cases and, with ``whole``, the poisoning and adaptive cases."""
    plays: list[Play] = []
    by_kind: dict[str, list[BenignTask]] = defaultdict(list)
    for task in BENIGN_TASKS:
        by_kind[task.kind].append(task)
    queues = list(by_kind.values())
    ordered = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    for t in ordered:
        plays += [(f"real-llm/{arm.name}/benign", f"{t.name}/benign",
                   functools.partial(runner.benign_task, t, arm)) for arm in arms]  # fmt: skip
    for arm in arms:
        extra = [
            ("poison", Case(task, goal, "text")) for task in (TRIGGER_TASK, PLAIN_TASK) for goal in GOALS
        ]
        extra += [("adaptive", case) for case in ADAPTIVE]
        for kind, case in [("attack", c) for c in cases] + (extra if whole and cases else []):
            plays.append((f"real-llm/{arm.name}/{kind}", case.id, functools.partial(runner.play, case, arm)))
    return plays


def _share(plays: list[Play], shard: str) -> list[Play]:
    """The K-th of N shares of ``plays`` (``shard`` is "K/N"), cut by case so a case keeps its arms together.

    Raises:
        SystemExit: ``shard`` is not K/N with 0 <= K < N.
    """
    try:
        k, n = (int(part) for part in shard.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        raise SystemExit(f"--shard {shard!r}: expected K/N with 0 <= K < N, e.g. 0/2") from None
    order = list(dict.fromkeys(case_id for _, case_id, _ in plays))
    mine = {case_id for i, case_id in enumerate(order) if i % n == k}
    return [play for play in plays if play[1] in mine]


def _play_logged(plays: list[Play], log: ResultLog | None) -> dict[str, list[CaseResult]]:
    """Play each case not already in ``log`` (appending it there at once), with a progress line each."""
    everything: dict[str, list[CaseResult]] = defaultdict(list)
    started, played = time.perf_counter(), 0
    todo = sum(1 for group, case_id, _ in plays if log is None or log.done(group, case_id) is None)
    for n, (group, case_id, play) in enumerate(plays, 1):
        result = log.done(group, case_id) if log is not None else None
        if result is None:
            result = play()
            played += 1
            if log is not None:
                log.add(group, result)
            elapsed = time.perf_counter() - started
            eta = elapsed / played * (todo - played)
            fallback = "plan" if result.plan_fallbacks else "reply" if result.reply_fallbacks else "none"
            print(f"[{n}/{len(plays)}] {group} {case_id}: utility={int(result.utility)} "
                  f"attacked={int(result.attacked)} writes={result.unrequested_writes} fallback={fallback}"
                  f"{' CRASH' if result.crash else ''} {result.seconds:.0f} s; {elapsed / 60:.0f} min "
                  f"elapsed, ~{eta / 60:.0f} min left", file=sys.stderr, flush=True)  # fmt: skip
        everything[group].append(result)
    return everything


def _print_real(everything: dict[str, list[CaseResult]], arms: list[Arm]) -> None:
    rows = [["arm", "set", "cases", "turns", "utility", "targeted ASR", "unrequested writes", "crashes",
             "plan fallback", "reply fallback"]]  # fmt: skip
    benign_utility: dict[str, float] = {}
    for arm in arms:
        for kind in ("benign", "attack", "poison", "adaptive"):
            results = everything.get(f"real-llm/{arm.name}/{kind}", [])
            if not results:
                continue
            summary = SuiteSummary.of(arm.name, results)
            turns = sum(r.turns for r in results)
            if kind == "benign":
                benign_utility[arm.name] = summary.utility
            rows.append([arm.name, kind, str(summary.cases), str(turns), _pct(summary.utility),
                         "-" if kind == "benign" else _pct(summary.attack_success),
                         str(summary.unrequested_writes), str(summary.crashes),
                         _pct(sum(r.plan_fallbacks for r in results) / max(turns, 1)),
                         _pct(sum(r.reply_fallbacks for r in results) / max(turns, 1))])  # fmt: skip
    print(_table(rows))
    print("fallback rates are per turn: the offline brain planned the turn (plan), or wrote its reply and")
    print("the turn's writes were rolled back (reply); such turns measure the fallback, not the model")
    on, off = (benign_utility.get(arm.name) for arm in (ARMS[1], ARMS[0]))
    if on is not None and off:
        print(f"benign utility with policies on / off: {_pct(on)} / {_pct(off)} = {_pct(on / off)}")
    _print_benign_differences(everything, arms)


def _print_benign(runners: dict[str, SuiteRunner]) -> None:
    """Each brain plays the benign set in both arms: utility, the ratio on / off, and what was lost."""
    rows = [["brain", "arm", "tasks", "utility", "unrequested writes", "plan fallback", "on / off"]]
    for brain, runner in runners.items():
        utility: dict[str, float] = {}
        for arm in ARMS:
            results = [runner.benign_task(task, arm) for task in BENIGN_TASKS]
            summary = SuiteSummary.of(arm.name, results)
            utility[arm.name] = summary.utility
            ratio = _pct(summary.utility / utility[ARMS[0].name]) if arm is ARMS[1] else "-"
            fallbacks = str(sum(r.plan_fallbacks for r in results))
            rows.append([brain, arm.name, str(summary.cases), _pct(summary.utility),
                         str(summary.unrequested_writes), fallbacks, ratio])  # fmt: skip
    print(_table(rows))


def _print_benign_differences(everything: dict[str, list[CaseResult]], arms: list[Arm]) -> None:
    """Benign utility by kind of task, and each task served in one arm only, with what the model
    planned and what the policy refused (why an arm lost it)."""
    by_arm = {
        arm.name: {r.case_id: r for r in everything.get(f"real-llm/{arm.name}/benign", [])} for arm in arms
    }
    kinds = {f"{t.name}/benign": t.kind for t in BENIGN_TASKS}
    rows = [["kind", *(arm.name for arm in arms)]]
    for kind in dict.fromkeys(kinds.values()):
        cells = []
        for arm in arms:
            got = [r.utility for case_id, r in by_arm[arm.name].items() if kinds.get(case_id) == kind]
            cells.append(f"{sum(got)}/{len(got)}")
        rows.append([kind, *cells])
    print(_table(rows))
    if len(arms) < 2:
        return
    first, second = (by_arm[arm.name] for arm in arms)
    for case_id in [c for c in first if c in second and first[c].utility != second[c].utility]:
        for arm in arms:
            r = by_arm[arm.name][case_id]
            print(f"  {case_id} [{arm.name}] utility={int(r.utility)} plan fallback={r.plan_fallbacks} "
                  f"planned={list(r.planned)} refused={list(r.refused)}")  # fmt: skip


ArmTables = dict[str, dict[str, list[bool]]]


def _play_arms(
    runner: SuiteRunner, cases: list[Case], prefix: str, everything: dict[str, list[CaseResult]]
) -> tuple[list[list[str]], ArmTables, ArmTables]:
    """Benign tasks and injection cases under each arm: the summary rows, ASR by placement and by goal."""
    rows = [["arm", "cases", "benign utility", "utility under attack", "targeted ASR",
             "unrequested writes", "crashes"]]  # fmt: skip
    by_placement: ArmTables = defaultdict(lambda: defaultdict(list))
    by_goal: ArmTables = defaultdict(lambda: defaultdict(list))
    for arm in ARMS:
        benign = [runner.benign_task(task, arm) for task in BENIGN_TASKS]
        attacked = [runner.play(case, arm) for case in cases]
        everything[f"{prefix}{arm.name}/benign"] = benign
        everything[f"{prefix}{arm.name}/attack"] = attacked
        b, a = SuiteSummary.of(arm.name, benign), SuiteSummary.of(arm.name, attacked)
        writes, crashes = a.unrequested_writes + b.unrequested_writes, a.crashes + b.crashes
        rows.append([arm.name, str(a.cases), _pct(b.utility), _pct(a.utility), _pct(a.attack_success),
                     str(writes), str(crashes)])  # fmt: skip
        for case, result in zip(cases, attacked, strict=True):
            by_placement[case.placement][arm.name].append(result.attacked)
            by_goal[case.goal.name][arm.name].append(result.attacked)
    return rows, by_placement, by_goal


def _print_asr(title: str, table: ArmTables) -> None:
    rows = [[title.split()[-1], *(arm.name for arm in ARMS)]]
    for key, arms in table.items():
        rows.append([key, *(_pct(sum(v) / len(v)) for v in (arms[arm.name] for arm in ARMS))])
    print(f"\n{title}")
    print(_table(rows))


def _write_json(path: Path | None, everything: dict[str, list[CaseResult]]) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: [asdict(r) for r in v] for k, v in everything.items()}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
