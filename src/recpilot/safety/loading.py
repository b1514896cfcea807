"""Reading policies from TOML or JSON files, with errors that name the file, the line and the problem.

A policy file holds the fields of :class:`~recpilot.safety.policy.SafetyPolicy`::

    name = "strict"
    default = "deny"

    [[rules]]
    privilege = "read"
    action = "allow"

    [[rules]]
    tool = "add_feed_rule"
    requested = true
    args = [{ arg = "days", max = 30 }]
    action = "allow"

Besides a path, :func:`load_policy` accepts the names of the built-in policies (``default``,
``read-only``, ``allow-all``).
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recpilot.errors import DataError
from recpilot.safety.calls import GuardedTool
from recpilot.safety.defaults import allow_all_policy, default_policy, read_only_policy
from recpilot.safety.policy import SafetyPolicy

logger = logging.getLogger("recpilot.safety")

BUILT_IN: dict[str, Callable[[], SafetyPolicy]] = {
    "default": default_policy,
    "read-only": read_only_policy,
    "allow-all": allow_all_policy,
}
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def load_policy(source: str | Path) -> SafetyPolicy:
    """A built-in policy by name, or a policy from a ``.toml`` or ``.json`` file.

    Raises:
        DataError: The file is missing, unreadable or invalid; the message names the file, the line
            and the problem.
    """
    if isinstance(source, str) and source in BUILT_IN:
        return BUILT_IN[source]()
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        known = ", ".join(BUILT_IN)
        raise DataError(
            f"cannot read the policy ({exc}); give a .toml/.json file or one of: {known}", path=path
        ) from None
    return parse_policy(text, path=path)


def parse_policy(text: str, *, path: Path) -> SafetyPolicy:
    """A policy from the text of a TOML (``.toml``) or JSON (any other suffix) file at ``path``."""
    data: Any
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_LINE.search(str(exc))
            raise DataError(
                f"not valid TOML: {_TOML_LINE.sub('', str(exc)).strip()}",
                path=path,
                line=int(found.group(1)) if found else None,
            ) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError("a policy must be a table/object with 'rules'", path=path, line=1)
    try:
        policy = SafetyPolicy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise DataError(f"{where}: {error['msg']}{more}", path=path, line=_line_of(text, loc)) from None
    return policy


def report_unusable(policy: SafetyPolicy, specs: Iterable[GuardedTool]) -> list[str]:
    """Warn (log) at start-up when the policy can never run some or all of the tools; returns the warnings."""
    specs = list(specs)
    blocked = policy.unusable_tools(specs)
    warnings: list[str] = []
    if specs and len(blocked) == len(specs):
        warnings.append(f"policy {policy.name!r} denies every tool: the agent can only chat")
    elif blocked:
        warnings.append(f"policy {policy.name!r} never allows: {', '.join(blocked)}")
    for warning in warnings:
        logger.warning(warning)
    return warnings


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line where the value at ``loc`` (``("rules", 2, "action")``) is written, best effort."""
    lines = text.splitlines()
    start = 0
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            start = _nth_entry(lines, start, part, toml_table=str(loc[depth - 1]) if depth else "")
            continue
        key = re.compile(rf'^\s*"?{re.escape(str(part))}"?\s*[=:]|[{{,]\s*"?{re.escape(str(part))}"?\s*[=:]')
        for number in range(start, len(lines)):
            if key.search(lines[number]):
                start = number
                break
    return start + 1 if lines else None


def _nth_entry(lines: list[str], start: int, index: int, *, toml_table: str) -> int:
    """The line of the ``index``-th entry of a list that starts at ``start`` (TOML ``[[table]]`` or a
    JSON/inline list of objects)."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(toml_table)}\s*\]\]")
    headers = [n for n in range(len(lines)) if header.match(lines[n])]
    if headers:
        return headers[min(index, len(headers) - 1)]
    seen = -1
    for number in range(start, len(lines)):
        seen += lines[number].count("{")
        if seen >= index:
            return number
    return start
