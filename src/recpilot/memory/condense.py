"""Condensing long dialogues: old turns become one summary turn instead of being cut off blindly."""

from __future__ import annotations

import re
from typing import Final

from recpilot.errors import ConfigError
from recpilot.memory.base import DialogueTurn

#: Condense when a session has more turns than this ...
MAX_TURNS: Final = 24
#: ... keeping this many recent turns verbatim.
KEEP_RECENT: Final = 12
#: Each earlier request is shortened to this many characters ...
REQUEST_CHARS: Final = 160
#: ... and the summary keeps the most recent requests that fit in this many.
MAX_SUMMARY_CHARS: Final = 2_000

_PREFIX: Final = "Earlier the user asked"
_SEPARATOR: Final = " | "
_OWN_SUMMARY = re.compile(rf"^{_PREFIX}(?: \((\d+) older requests? omitted\))?: (.*)$", re.DOTALL)


def condense_dialogue(
    turns: list[DialogueTurn], *, max_turns: int = MAX_TURNS, keep: int = KEEP_RECENT
) -> list[DialogueTurn]:
    """Fold all but the ``keep`` most recent turns into a single summary turn once there are too many.

    The summary lists the earlier user requests (shortened, repeats merged), so stated constraints
    survive; the requests of an earlier summary made here are carried over, and any other summary
    turn is kept word for word. When the requests outgrow :data:`MAX_SUMMARY_CHARS` the oldest go
    first and the summary says how many were left out. Assistant turns are dropped: their content
    was the answer to requests that are kept.

    Args:
        turns: The session, oldest first.
        max_turns: Condense only when there are more turns than this.
        keep: How many recent turns stay verbatim; must be below ``max_turns``.

    Returns:
        ``turns`` itself (the same object) when nothing needs condensing, else a new list whose
        first turn has role ``summary``.

    Raises:
        ConfigError: ``keep`` is negative or not below ``max_turns``.
    """
    if not 0 <= keep < max_turns:
        raise ConfigError(
            f"condense_dialogue needs 0 <= keep < max_turns, got keep={keep}, max_turns={max_turns}"
        )
    if len(turns) <= max_turns:
        return turns
    cut = len(turns) - keep
    old, recent = turns[:cut], turns[cut:]
    verbatim: list[str] = []
    omitted = 0
    requests: list[str] = []
    for turn in old:
        if turn.role == "user":
            requests.append(_shorten(turn.content))
        elif turn.role == "summary":
            own = _OWN_SUMMARY.match(turn.content)
            if own is None:
                verbatim.append(turn.content)
            else:
                omitted += int(own.group(1) or 0)
                requests.extend(own.group(2).split(_SEPARATOR))
    requests, dropped = _bounded(_merge_repeats(requests))
    omitted += dropped
    parts = list(verbatim)
    if requests:
        note = f" ({omitted} older request{'s' if omitted != 1 else ''} omitted)" if omitted else ""
        parts.append(f"{_PREFIX}{note}: {_SEPARATOR.join(requests)}")
    if not parts:  # only assistant turns went: there is nothing to summarise
        return recent
    summary = DialogueTurn(role="summary", content=" ".join(parts), created_at=old[-1].created_at)
    return [summary, *recent]


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REQUEST_CHARS else text[: REQUEST_CHARS - 1] + "…"


def _merge_repeats(requests: list[str]) -> list[str]:
    """Drop empty requests and repeats of a later one (the latest occurrence keeps its place)."""
    seen: set[str] = set()
    kept: list[str] = []
    for request in reversed(requests):
        key = request.casefold()
        if request and key not in seen:
            seen.add(key)
            kept.append(request)
    return kept[::-1]


def _bounded(requests: list[str]) -> tuple[list[str], int]:
    """The most recent requests whose joined length fits :data:`MAX_SUMMARY_CHARS`, and how many did not."""
    total = 0
    start = len(requests)
    while start > 0 and total + len(requests[start - 1]) + len(_SEPARATOR) <= MAX_SUMMARY_CHARS:
        start -= 1
        total += len(requests[start]) + len(_SEPARATOR)
    return requests[start:], start
