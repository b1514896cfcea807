"""The LLM path on a real local model: llama.cpp's server with SmolLM2-135M (the ``[local-llm]`` extra).

Three parts, each printed as a table:

- ``--prompts``: the plan prompt's size in tokens (the model's own tokenizer, read from its GGUF file
  and counting as the server's ``/extras/tokenize`` does) for every acceptance request, as the model
  reads it per mode: instructions with the tools, the schema where the mode pastes it (json_object
  and prompted; the tool mode's goes to the grammar only) and the message; median, p95, max and the
  largest three (target: at most 1,500). No server and no generation, so it is quick.
- ``--turns N``: per output mode the server takes (tool, json_object, prompted), the first N acceptance
  requests as agent turns (``--turns 0`` with ``--modes``: all 71): per-turn latency p50/p95, LLM calls
  and tokens per turn, the share of turns that fell back to the offline brain (and how many because
  of the request's shape: the target is 0) and the acceptance pass rate (reported only: a 135M model
  is not expected to pass). A second table splits the calls per turn by purpose (plan, its repairs,
  replan, compose, reflect, HTTP retries and step-downs) and names the most frequent repair reasons.
- ``--simulate U``: ``recpilot simulate --engine llm`` with U users x 2 pages: wall time and pages/s.

``--llm URL#MODEL`` uses a server that is already running (a shared one) instead of starting one.
Usage: ``.venv/bin/python benchmarks/llm_local.py [--prompts] [--turns 5] [--simulate 5]
[--modes tool,json_object] [--llm http://127.0.0.1:8765/v1#smollm2]``.
Figures depend heavily on the machine's load (and a shared server's queue); say so next to them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from recpilot.agent.acceptance import ACCEPTANCE_CASES, NEW, check_case
from recpilot.agent.acceptance_checks import CheckContext
from recpilot.agent.agent import DEFAULT_TOOLS, RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.prompts import ComposedReply, Critique
from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.agent.types import Plan
from recpilot.data.builtin import load_builtin
from recpilot.llm.chat import Question
from recpilot.llm.client import LLMClient
from recpilot.llm.modes import MODES, schema_instructions
from recpilot.llm.settings import LLMSettings, parse_llm_option
from recpilot.llm.structured import CallBooks
from recpilot.testing.llm_models import ScriptedCall, ScriptedModel
from recpilot.testing.local_llm import LocalLLMServer, smollm2_token_counter

OutputT = TypeVar("OutputT", bound=BaseModel)

#: The purposes a brain's call can serve, in the order the breakdown prints them.
PURPOSES = (
    "plan",
    "plan repair",
    "replan",
    "replan repair",
    "compose",
    "compose repair",
    "reflect",
    "http extra",
)
_STAGES: dict[type[BaseModel], str] = {Plan: "plan", ComposedReply: "compose", Critique: "reflect"}


@dataclass
class Endpoint:
    """A running OpenAI-compatible server: its API root and model name."""

    base_url: str
    model: str


class LedgerClient(LLMClient):
    """The brain's LLM client, booking each request of the current turn by its purpose.

    The first answered request of a question is its purpose (a second plan question in one turn is the
    replan); every further answered request of the same question is a repair round; HTTP attempts past
    the answered requests (retries, step-downs, unanswered timeouts) are ``http extra``.

    Attributes:
        turn: Calls per purpose since :meth:`new_turn`.
        problems: Why answers were sent back for repair, since the client was made.
    """

    def __init__(self, settings: LLMSettings) -> None:
        super().__init__(settings)
        self.turn: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()

    def new_turn(self) -> None:
        """Start booking a new turn."""
        self.turn = Counter()

    async def ask(
        self,
        question: Question[OutputT],
        prompt: str,
        books: CallBooks,
        *,
        repairs: int | None = None,
        check: Callable[[OutputT], list[str]] | None = None,
    ) -> OutputT:
        """Ask as :class:`LLMClient` does, then book the requests it took."""
        stage = _STAGES.get(question.output, question.output.__name__)
        if stage == "plan" and self.turn["plan"]:
            stage = "replan"
        requests, attempts, problems = books.requests, books.attempts, len(books.problems)
        try:
            return await super().ask(question, prompt, books, repairs=repairs, check=check)
        finally:
            answered = books.requests - requests
            self.turn[stage] += min(answered, 1)
            self.turn[f"{stage} repair"] += max(answered - 1, 0)
            self.turn["http extra"] += max(books.attempts - attempts - answered, 0)
            for problem in books.problems[problems:]:
                self.problems[f"{stage}: {_reason(problem)}"] += 1


def _reason(problem: str) -> str:
    """A repair reason without its specifics (so equal reasons count together)."""
    head = problem.split(" (")[0].split(":")[0]
    return head[:70]


def _runtime() -> AgentRuntime:
    return build_runtime(load_builtin(), roles={"collaborative": "itemknn", "content": "content"})


def prompt_sizes(runtime: AgentRuntime) -> None:
    """Tokens of the plan prompt the model reads, per output mode, for each acceptance request.

    The tool mode's schema goes to the server's grammar only (SmolLM2's chat template renders no
    tools): instructions and message. json_object and prompted paste the shorter prompt schema into the
    instructions as well. The chat template's role markers (about 10 tokens) are not counted.
    """
    plans: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> Any:
        call = ScriptedCall(messages, info)
        if call.system.startswith("You plan"):
            plans.append(call.user_prompt)
            return Plan()
        return {"reply": "ok"}

    brain = LLMBrain(ScriptedModel([answer] * 1000))
    agent = RecommenderAgent(runtime, brain=brain)
    question = brain.plan_question(DEFAULT_TOOLS, runtime.catalog)
    count = smollm2_token_counter()
    sizes: dict[str, list[tuple[int, str]]] = {"tool": [], "json_object": []}
    for case in ACCEPTANCE_CASES:
        user = f"bench-{case.id}" if case.user == NEW else case.user
        session = f"bench-prompt-{case.id}-{time.time_ns()}"
        for message in (*case.before, case.message):
            agent.respond(user, message, session_id=session)
        for mode, found in sizes.items():
            system = question.instructions + schema_instructions(mode, question.pasted_schema)  # type: ignore[arg-type]
            found.append((count(system + plans[-1]), case.id))
    print(f"plan prompt tokens over {len(ACCEPTANCE_CASES)} acceptance requests (SmolLM2 tokenizer)")
    print(f"{'mode':>12} | {'median':>6} | {'p95':>6} | {'max':>6} | {'over 1,500':>10} | largest")
    for mode, found in sizes.items():
        tokens = [size for size, _ in found]
        over = sum(s > 1500 for s in tokens)
        largest = ", ".join(f"{case} {size}" for size, case in sorted(found, reverse=True)[:3])
        print(
            f"{mode:>12} | {statistics.median(tokens):6.0f} | {np.percentile(tokens, 95):6.0f} | "
            f"{max(tokens):6d} | {over:10d} | {largest}"
        )


@dataclass
class TurnRow:
    """One measured agent turn."""

    seconds: float
    calls: int
    tokens_in: int
    tokens_out: int
    fallback: bool
    by_shape: bool
    passed: bool
    purposes: Counter[str] = field(default_factory=Counter)


def turns(
    server: Endpoint, runtime: AgentRuntime, n: int, home: Path, modes: list[str]
) -> dict[str, list[TurnRow]]:
    """Per mode: latency, calls, tokens, fallbacks and pass rate over the first ``n`` acceptance requests."""
    cases = ACCEPTANCE_CASES[:n] if n else ACCEPTANCE_CASES
    print(f"\nagent turns on {len(cases)} acceptance requests, per output mode")
    header = f"{'mode':>12} | {'p50 s':>6} | {'p95 s':>6} | {'calls':>5} | {'tok in':>6} | {'tok out':>7} |"
    print(header + f" {'fallback':>8} | {'by shape':>8} | {'pass':>5}", flush=True)
    results: dict[str, list[TurnRow]] = {}
    ledgers: dict[str, LedgerClient] = {}
    for mode in modes:
        settings = LLMSettings(
            base_url=server.base_url,
            model=server.model,
            output_mode=mode,  # type: ignore[arg-type]  # checked by LLMSettings
            timeout_s=180,
            deadline_s=240,
            max_retries=1,
            modes_file=home / "modes.json",
        )
        ledger = ledgers[mode] = LedgerClient(settings)
        agent = RecommenderAgent(runtime, brain=LLMBrain(ledger))
        rows = results[mode] = []
        for case in cases:
            user = f"bench-{case.id}-{mode}" if case.user == NEW else case.user
            session = f"bench-{mode}-{case.id}-{time.time_ns()}"
            earlier = [agent.respond(user, m, session_id=session) for m in case.before]
            ledger.new_turn()
            started = time.perf_counter()
            response = agent.respond(user, case.message, session_id=session)
            seconds = time.perf_counter() - started
            fallbacks = [s.detail for s in response.trace if s.kind == "fallback" and s.name == "offline"]
            context = CheckContext(runtime.catalog, runtime.memory, user, earlier)
            usage = response.usage
            rows.append(
                TurnRow(
                    seconds,
                    usage.llm_calls,
                    usage.input_tokens,
                    usage.output_tokens,
                    bool(fallbacks),
                    any("HTTP " in detail for detail in fallbacks),
                    not check_case(case, response, context),
                    Counter(ledger.turn),  # a copy: the next case's earlier turns book into ledger.turn
                )
            )
            _progress(mode, len(rows), len(cases), case.id, rows[-1])
        latency = np.array([r.seconds for r in rows])
        print(
            f"{mode:>12} | {np.percentile(latency, 50):6.1f} | {np.percentile(latency, 95):6.1f} | "
            f"{np.mean([r.calls for r in rows]):5.2f} | {np.mean([r.tokens_in for r in rows]):6.0f} | "
            f"{np.mean([r.tokens_out for r in rows]):7.0f} | {np.mean([r.fallback for r in rows]):8.0%} | "
            f"{sum(r.by_shape for r in rows):8d} | {np.mean([r.passed for r in rows]):5.0%}",
            flush=True,
        )
    _breakdown(results, ledgers)
    return results


def _progress(mode: str, done: int, total: int, case: str, row: TurnRow) -> None:
    """One line per turn on stderr (a run cut short still leaves its turns)."""
    purposes = " ".join(f"{p.replace(' ', '_')}={n}" for p, n in row.purposes.items() if n)
    print(
        f"[{mode} {done}/{total}] {case}: {row.seconds:.1f}s calls={row.calls} in={row.tokens_in} "
        f"out={row.tokens_out} fallback={row.fallback} by_shape={row.by_shape} passed={row.passed} "
        f"{purposes} load={os.getloadavg()[0]:.1f}",
        file=sys.stderr,
        flush=True,
    )


def _breakdown(results: dict[str, list[TurnRow]], ledgers: dict[str, LedgerClient]) -> None:
    """Calls per turn by purpose, per mode (all turns, and those the LLM completed), and repair reasons."""
    print("\nLLM calls per turn by purpose (all turns; in brackets: turns completed without fallback)")
    print(f"{'mode':>12} | " + " | ".join(f"{p:>13}" for p in PURPOSES) + " | total")
    for mode, rows in results.items():
        completed = [r for r in rows if not r.fallback]
        cells = []
        for purpose in PURPOSES:
            every = np.mean([r.purposes[purpose] for r in rows])
            done = np.mean([r.purposes[purpose] for r in completed]) if completed else float("nan")
            cells.append(f"{every:5.2f} ({done:4.2f})")
        total = np.mean([sum(r.purposes.values()) for r in rows])
        done_total = np.mean([sum(r.purposes.values()) for r in completed]) if completed else float("nan")
        print(f"{mode:>12} | " + " | ".join(cells) + f" | {total:.2f} ({done_total:.2f})")
    for mode, ledger in ledgers.items():
        common = ", ".join(f"{reason} x{count}" for reason, count in ledger.problems.most_common(4))
        print(f"{mode:>12} repair reasons: {common or 'none'}")


def simulate(server: Endpoint, users: int, home: Path) -> None:
    """``recpilot simulate --engine llm`` for ``users`` x 2 pages: wall time and pages per second."""
    from recpilot.cli.app import main

    os.environ.setdefault("RECPILOT_LLM_TIMEOUT_S", "180")
    os.environ["RECPILOT_LLM_MODES_FILE"] = str(home / "modes.json")
    args = ["simulate", "--engine", "llm", "--llm", f"{server.base_url}#{server.model}", "--json"]
    args += ["--users", str(users), "--sessions", "1", "--pages", "2", "--page-size", "4"]
    args += ["--concurrency", "2", "--output", str(home / "run")]
    started = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - started
    print(f"\nsimulate --engine llm: {users} users x 2 pages, exit {code}, {seconds:.0f} s wall")


def main() -> None:
    """Start the local server (or use ``--llm``), run the parts asked for, print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", action="store_true")
    parser.add_argument("--turns", type=int, default=None, help="first N acceptance requests (0: all)")
    parser.add_argument("--modes", default="tool,json_object,prompted", help="output modes, comma-separated")
    parser.add_argument("--simulate", type=int, default=0)
    parser.add_argument("--llm", default=None, help="URL#MODEL of a running server (default: start one)")
    args = parser.parse_args()
    if not (args.prompts or args.turns is not None or args.simulate):
        parser.error("pick at least one of --prompts, --turns N, --simulate U")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown output mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    runtime = _runtime()
    if args.prompts:
        prompt_sizes(runtime)
    if args.turns is None and not args.simulate:
        return
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.llm:
            settings = parse_llm_option(args.llm)
            server = Endpoint(settings.endpoint, settings.model)
        else:
            local = stack.enter_context(LocalLLMServer())
            server = Endpoint(local.base_url, local.model)
        if args.turns is not None:
            turns(server, runtime, args.turns, folder, modes)
        if args.simulate:
            simulate(server, args.simulate, folder)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)


if __name__ == "__main__":
    main()
