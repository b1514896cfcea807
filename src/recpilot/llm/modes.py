"""Output modes: the request shapes that get a typed answer out of an OpenAI-compatible server.

Servers differ in what they accept. OpenAI takes every shape; vLLM takes named tool choices and
``json_schema``; llama.cpp's Python server forces a named tool call or a ``json_object`` with a
``schema`` by grammar, but rejects ``tool_choice: "required"`` and ``json_schema``; Ollama ignores
``tool_choice``. The four modes, strongest first:

- ``tool``: one output tool and a named ``tool_choice`` (the answer is the call's arguments);
- ``json_schema``: ``response_format: {"type": "json_schema", ...}``;
- ``json_object``: JSON mode, with the llama.cpp-style ``schema`` field (constrained decoding where
  the server takes it) and the schema in the instructions (where it does not);
- ``prompted``: the schema in the instructions only; the text is parsed, and a bad answer gets a
  bounded repair round with the parse error fed back.

``auto`` (:class:`ModeChoice`) starts from the strongest mode this endpoint and model are known to take
(:class:`ModeMemory`, a JSON file under the settings home) and steps down within the same call when
the server rejects a request shape (:func:`rejects_shape`).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Literal, get_args

logger = logging.getLogger("recpilot.llm")

OutputMode = Literal["tool", "json_schema", "json_object", "prompted"]
#: The modes, strongest first (the order ``auto`` steps down in).
MODES: tuple[OutputMode, ...] = get_args(OutputMode)
#: The output tool's name (the one pydantic-ai agents use too).
OUTPUT_TOOL = "final_result"

# Words a server's error names when it refuses the request's shape (not its content or its load).
_SHAPE_WORDS = (
    "tool_choice",
    "tools",
    "tool ",
    "function",
    "response_format",
    "json_schema",
    "grammar",
    "schema",
)


def request_fields(mode: OutputMode, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The body fields that ask for a typed answer in ``mode`` (merged into the chat request)."""
    if mode == "tool":
        function = {"name": OUTPUT_TOOL, "description": description, "parameters": schema}
        return {
            "tools": [{"type": "function", "function": function}],
            "tool_choice": {"type": "function", "function": {"name": OUTPUT_TOOL}},
        }
    if mode == "json_schema":
        named = {"name": OUTPUT_TOOL, "schema": schema, "strict": False}
        return {"response_format": {"type": "json_schema", "json_schema": named}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


def schema_instructions(mode: OutputMode, schema: dict[str, Any]) -> str:
    """What the system prompt adds in ``mode``: the schema, for the modes that do not carry it in a field."""
    if mode in ("tool", "json_schema"):
        return ""
    text = json.dumps(schema, separators=(",", ":"))
    return f"\n\nAnswer with one JSON object only (no prose, no fence) following this JSON schema:\n{text}"


def rejects_shape(status: int, text: str) -> bool:
    """Whether an HTTP error refuses the request's shape (tools, tool choice, response format).

    A 4xx or 5xx whose message names one of them means this mode will never work on this server;
    an overload, a timeout or a bad key says nothing about the mode.
    """
    if status < 400 or status in (401, 403, 404, 408, 429):
        return False
    lowered = text.lower()
    return any(word in lowered for word in _SHAPE_WORDS)


#: The two names servers give the field that caps an answer's tokens.
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
# Words of an error that refuses a field as such (not its value: "max_tokens must be <= 4096").
_REFUSED_FIELD_WORDS = ("unsupported", "not supported", "unrecognized", "unknown", "extra", "not permitted")


class TokenLimitField:
    """The body field that caps an answer's tokens, as the endpoint takes it.

    OpenAI's newer models take only ``max_completion_tokens``; most other servers know only
    ``max_tokens`` (and some ignore a field they do not know, which would leave the answer unbounded).
    It starts from what the endpoint is known for and switches once, when the server's error refuses
    the field sent (naming it, and the other one or as unsupported).

    Args:
        openai: Whether the endpoint is OpenAI's own API.
    """

    def __init__(self, openai: bool) -> None:
        self.name = TOKEN_LIMIT_FIELDS[1] if openai else TOKEN_LIMIT_FIELDS[0]
        self._switched = False

    def switch_if_refused(self, status: int, text: str) -> bool:
        """Whether the error refuses the current field; if so the other one is used from now on (once)."""
        if self._switched or not 400 <= status < 500 or status in (401, 403, 404, 408, 429):
            return False
        other = TOKEN_LIMIT_FIELDS[1] if self.name == TOKEN_LIMIT_FIELDS[0] else TOKEN_LIMIT_FIELDS[0]
        lowered = text.lower()
        refused = other in lowered or any(word in lowered for word in _REFUSED_FIELD_WORDS)
        if self.name not in lowered or not refused:
            return False
        logger.info("the LLM endpoint refused %s (%s); sending %s", self.name, text[:200], other)
        self.name, self._switched = other, True
        return True


def extract_json(text: str) -> str | None:
    """The first balanced JSON object in ``text`` (a code fence or prose around it is dropped)."""
    start = text.find("{")
    while start >= 0:
        depth, in_string, escaped = 0, False, False
        for index in range(start, len(text)):
            char = text[index]
            if in_string:
                escaped = char == "\\" and not escaped
                if char == '"' and not escaped:
                    in_string = False
                continue
            if char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : index + 1]
        start = text.find("{", start + 1)
    return None


_SAVING = threading.Lock()  # module-level: a ModeMemory travels to worker processes (pickled)


class ModeMemory:
    """Which output modes each endpoint and model took, kept in one JSON file.

    Args:
        path: The file (created with its folder on the first save).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, key: str) -> list[OutputMode] | None:
        """The modes known to work for ``key`` (``endpoint#model``), strongest first; None if unknown."""
        entry = self._read().get(key)
        if not isinstance(entry, list):
            return None
        return [m for m in MODES if m in entry] or None

    def save(self, key: str, modes: list[OutputMode]) -> None:
        """Record the modes that work for ``key`` (best effort: a read-only home only costs a re-learn)."""
        with _SAVING:
            data = self._read()
            data[key] = list(modes)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            except OSError as exc:
                logger.warning("could not save the LLM output modes to %s: %s", self.path, exc)


class ModeChoice:
    """The output mode to use for one endpoint and model, learned once and stepped down on rejection.

    Args:
        key: ``endpoint#model``.
        configured: A fixed mode, or ``auto``.
        memory: Where learned modes are kept (None: learn per process).
    """

    def __init__(self, key: str, configured: OutputMode | Literal["auto"], memory: ModeMemory | None) -> None:
        self.key = key
        self.fixed = configured != "auto"
        self._memory = memory
        known = memory.load(key) if memory is not None and not self.fixed else None
        self._known = known is not None
        self.candidates: list[OutputMode] = [configured] if configured != "auto" else list(known or MODES)
        self.rejected: list[OutputMode] = []

    @property
    def current(self) -> OutputMode:
        """The mode the next request uses."""
        return self.candidates[0]

    def step_down(self, mode: OutputMode, reason: str) -> bool:
        """Record that the server rejected ``mode``; whether a weaker mode is left to try."""
        if self.fixed:
            return False
        if mode in self.candidates and len(self.candidates) > 1:
            self.candidates.remove(mode)
            self.rejected.append(mode)
            logger.info("LLM %s rejected output mode %s (%s); using %s", self.key, mode, reason, self.current)
            self._known = False
            return True
        return self.current != mode

    def confirm(self, mode: OutputMode) -> None:
        """A request in ``mode`` was accepted: remember the modes from it down (once)."""
        if self.fixed or self._known or self._memory is None:
            return
        self._known = True
        self._memory.save(self.key, self.candidates[self.candidates.index(mode) :])


__all__ = [
    "MODES",
    "OUTPUT_TOOL",
    "TOKEN_LIMIT_FIELDS",
    "ModeChoice",
    "ModeMemory",
    "OutputMode",
    "TokenLimitField",
    "extract_json",
    "rejects_shape",
    "request_fields",
    "schema_instructions",
]
