"""Long suite runs that survive a stop: results appended as JSON Lines, and a resumed run skips them.

A run of the injection suite against a real model on a CPU takes hours. :class:`ResultLog` appends each
played case to a JSON Lines file the moment it is known, so nothing is lost when the run is stopped;
started again on the same file, the run skips what the file already holds. :func:`interleaved` orders
cases so that any prefix of a run covers the goals and placements evenly (a run cut short is then a
fair sample, not only the first task's cases).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, fields
from itertools import zip_longest
from pathlib import Path

from recpilot.errors import ConfigError
from recpilot.testing.injection_run import CaseResult
from recpilot.testing.injection_suite import Case

_FIELDS = {f.name for f in fields(CaseResult)}


class ResultLog:
    """Played cases in a JSON Lines file: one ``{"group": ..., <CaseResult fields>}`` object a line.

    Args:
        path: The file (created with its folder when missing; appended to, never rewritten).

    Raises:
        ConfigError: A line of an existing file is not a result this log wrote (the message names
            the file and the line).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._results: dict[tuple[str, str], CaseResult] = {}
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    group, result = _parse(line, path, number)
                    self._results[(group, result.case_id)] = result

    def done(self, group: str, case_id: str) -> CaseResult | None:
        """The stored result of ``case_id`` in ``group``, if this file holds one."""
        return self._results.get((group, case_id))

    def add(self, group: str, result: CaseResult) -> None:
        """Append one result (flushed at once, so a stop loses nothing already played)."""
        self._results[(group, result.case_id)] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"group": group, **asdict(result)}) + "\n")

    def groups(self) -> list[str]:
        """The groups the file holds, in the order first played."""
        return list(dict.fromkeys(name for name, _ in self._results))

    def group(self, group: str) -> list[CaseResult]:
        """Every stored result of ``group``, in the order first played."""
        return [result for (name, _), result in self._results.items() if name == group]


def _parse(line: str, path: Path, number: int) -> tuple[str, CaseResult]:
    try:
        row = json.loads(line)
        group = row.pop("group")
        for name in ("items", "planned", "refused"):  # JSON lists back to the result's tuples
            row[name] = tuple(row.get(name, ()))
        if not isinstance(group, str) or not set(row) <= _FIELDS:
            raise ValueError(f"unexpected fields {sorted(set(row) - _FIELDS)}")
        return group, CaseResult(**row)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}, line {number}: not a result of benchmarks/safety.py ({exc}); "
            "pass another --json file or remove this one"
        ) from None


def interleaved(cases: Sequence[Case]) -> list[Case]:
    """``cases`` reordered so every prefix covers the goals, placements and tasks evenly: round-robin
    over the goals, each goal's cases round-robin over the placements, each placement starting at
    another task."""
    by_goal: dict[str, dict[str, list[Case]]] = {}
    for case in cases:
        by_goal.setdefault(case.goal.name, {}).setdefault(case.placement, []).append(case)
    per_goal = [
        _round_robin(
            [queue[i % len(queue) :] + queue[: i % len(queue)] for i, queue in enumerate(placed.values())]
        )
        for placed in by_goal.values()
    ]
    return _round_robin(per_goal)


def _round_robin(queues: list[list[Case]]) -> list[Case]:
    rounds: Iterator[tuple[Case | None, ...]] = zip_longest(*queues)
    return [case for round_ in rounds for case in round_ if case is not None]


__all__ = ["ResultLog", "interleaved"]
