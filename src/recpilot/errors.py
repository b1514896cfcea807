"""The error hierarchy of recpilot.

Every error a user can cause is a :class:`RecpilotError` whose message names the input, the place and,
where there is one, the fix. The CLI and the API turn these into clean messages; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class RecpilotError(Exception):
    """Base class of all errors recpilot raises on purpose."""


class ConfigError(RecpilotError, ValueError):
    """A configuration value, model spec or command-line option is invalid."""


class NotFittedError(RecpilotError, RuntimeError):
    """A model was used before :meth:`fit` (or :meth:`load`) was called."""


class DataError(RecpilotError, ValueError):
    """An input file or table is malformed.

    Args:
        problem: What is wrong, in words.
        path: The file the problem is in, if any.
        line: The 1-based line number in that file, if known.
    """

    def __init__(self, problem: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = str(self.path)
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{problem}")


class UnknownIdError(RecpilotError, KeyError):
    """A user or item id is not known to the dataset or model.

    Args:
        kind: ``"user"`` or ``"item"``.
        ids: The unknown ids (at most a few are shown in the message).
        hint: What the caller can do instead.
    """

    def __init__(self, kind: str, ids: Iterable[object], hint: str = "") -> None:
        self.kind = kind
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:5])
        more = f" (and {len(self.ids) - 5} more)" if len(self.ids) > 5 else ""
        message = f"unknown {kind} id{'s' if len(self.ids) != 1 else ''}: {shown}{more}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])
