"""The LLM path on a real local model: llama.cpp's server with SmolLM2-135M (the ``[local-llm]`` extra).

Three parts, each printed as a table:

- ``--prompts``: the plan prompt's size in tokens (the model's own tokenizer, read from its GGUF file
  and counting as the server's ``/extras/tokenize`` does) for every acceptance request: instructions,
  tools, the answer's schema as sent and the message, median, p95, max and the largest three (target:
  at most 1,500). No server and no generation, so it is quick.
- ``--turns N``: per output mode the server takes (tool, json_object, prompted), the first N acceptance
  requests as agent turns: per-turn latency p50/p95, LLM calls and tokens per turn, the share of turns
  that fell back to the offline brain (and how many because of the request's shape: the target is 0)
  and the acceptance pass rate (reported only: a 135M model is not expected to pass).
- ``--simulate U``: ``recpilot simulate --engine llm`` with U users x 2 pages: wall time and pages/s.

Usage: ``.venv/bin/python benchmarks/llm_local.py [--prompts] [--turns 5] [--simulate 5]``.
Figures depend heavily on the machine's load; say so next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from recpilot.agent.acceptance import ACCEPTANCE_CASES, NEW, check_case
from recpilot.agent.acceptance_checks import CheckContext
from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.llm_brain import LLMBrain
from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.agent.types import Plan
from recpilot.data.builtin import load_builtin
from recpilot.llm.settings import LLMSettings
from recpilot.testing.llm_models import ScriptedCall, ScriptedModel
from recpilot.testing.local_llm import LocalLLMServer, smollm2_token_counter


def _runtime() -> AgentRuntime:
    return build_runtime(load_builtin(), roles={"collaborative": "itemknn", "content": "content"})


def prompt_sizes(runtime: AgentRuntime) -> None:
    """Tokens of the plan prompt (system + schema + message) for each acceptance request."""
    plans: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> Any:
        call = ScriptedCall(messages, info)
        if call.system.startswith("You plan"):
            plans.append(call.system + call.user_prompt)
            return Plan()
        return {"reply": "ok"}

    brain = LLMBrain(ScriptedModel([answer] * 1000))
    agent = RecommenderAgent(runtime, brain=brain)
    count = smollm2_token_counter()
    sizes: list[tuple[int, str]] = []
    for case in ACCEPTANCE_CASES:
        user = f"bench-{case.id}" if case.user == NEW else case.user
        session = f"bench-prompt-{case.id}-{time.time_ns()}"
        for message in (*case.before, case.message):
            agent.respond(user, message, session_id=session)
        question = next(iter(brain._plan_questions.values()))  # the plan's schema, as sent
        sizes.append((count(plans[-1] + json.dumps(question.schema)), case.id))
    tokens = [size for size, _ in sizes]
    print(f"plan prompt tokens over {len(sizes)} acceptance requests (SmolLM2 tokenizer)")
    print(f"{'median':>8} | {'p95':>6} | {'max':>6} | {'over 1,500':>10} | largest")
    over = sum(s > 1500 for s in tokens)
    largest = ", ".join(f"{case} {size}" for size, case in sorted(sizes, reverse=True)[:3])
    print(
        f"{statistics.median(tokens):8.0f} | {np.percentile(tokens, 95):6.0f} | {max(tokens):6d} | "
        f"{over:10d} | {largest}"
    )


def turns(server: LocalLLMServer, runtime: AgentRuntime, n: int, home: Path) -> None:
    """Per mode: latency, calls, tokens, fallbacks and pass rate over the first ``n`` acceptance requests."""
    print(f"\nagent turns on the first {n} acceptance requests, per output mode")
    header = f"{'mode':>12} | {'p50 s':>6} | {'p95 s':>6} | {'calls':>5} | {'tok in':>6} | {'tok out':>7} |"
    print(header + f" {'fallback':>8} | {'by shape':>8} | {'pass':>5}")
    for mode in ("tool", "json_object", "prompted"):
        settings = LLMSettings(
            base_url=server.base_url,
            model=server.model,
            output_mode=mode,
            timeout_s=180,
            deadline_s=240,
            max_retries=1,
            modes_file=home / "modes.json",
        )
        agent = RecommenderAgent(runtime, brain=LLMBrain(settings))
        rows: list[tuple[float, int, int, int, bool, bool, bool]] = []
        for case in ACCEPTANCE_CASES[:n]:
            user = f"bench-{case.id}-{mode}" if case.user == NEW else case.user
            session = f"bench-{mode}-{case.id}-{time.time_ns()}"
            earlier = [agent.respond(user, m, session_id=session) for m in case.before]
            started = time.perf_counter()
            response = agent.respond(user, case.message, session_id=session)
            seconds = time.perf_counter() - started
            fallbacks = [s.detail for s in response.trace if s.kind == "fallback" and s.name == "offline"]
            shape = any("HTTP " in detail for detail in fallbacks)
            context = CheckContext(runtime.catalog, runtime.memory, user, earlier)
            passed = not check_case(case, response, context)
            usage = response.usage
            rows.append(
                (
                    seconds,
                    usage.llm_calls,
                    usage.input_tokens,
                    usage.output_tokens,
                    bool(fallbacks),
                    shape,
                    passed,
                )
            )
        latency = np.array([r[0] for r in rows])
        print(
            f"{mode:>12} | {np.percentile(latency, 50):6.1f} | {np.percentile(latency, 95):6.1f} | "
            f"{np.mean([r[1] for r in rows]):5.1f} | {np.mean([r[2] for r in rows]):6.0f} | "
            f"{np.mean([r[3] for r in rows]):7.0f} | {np.mean([r[4] for r in rows]):8.0%} | "
            f"{sum(r[5] for r in rows):8d} | {np.mean([r[6] for r in rows]):5.0%}"
        )


def simulate(server: LocalLLMServer, users: int, home: Path) -> None:
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
    """Start the local server, run the parts asked for, print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", action="store_true")
    parser.add_argument("--turns", type=int, default=0)
    parser.add_argument("--simulate", type=int, default=0)
    args = parser.parse_args()
    if not (args.prompts or args.turns or args.simulate):
        parser.error("pick at least one of --prompts, --turns N, --simulate U")
    runtime = _runtime()
    if args.prompts:
        prompt_sizes(runtime)
    if not (args.turns or args.simulate):
        return
    with LocalLLMServer() as server, tempfile.TemporaryDirectory() as folder:
        if args.turns:
            turns(server, runtime, args.turns, Path(folder))
        if args.simulate:
            simulate(server, args.simulate, Path(folder))
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)


if __name__ == "__main__":
    main()
