"""The one choke point every tool call passes: validation, policy, timing, logging.

A tool is a plain typed function whose first parameter is the :class:`ToolContext`; its signature and
Google-style docstring *are* its schema. :func:`tool` turns such a function into a :class:`ToolSpec`;
:class:`ToolDispatcher` runs calls by name with raw (LLM- or parser-produced) arguments and never
raises: a bad call becomes a failed :class:`ToolCall` record the brain can read and recover from.

Privilege policies (:mod:`recpilot.safety`) are enforced here and nowhere else; without an explicit
policy the dispatcher runs :func:`recpilot.safety.default_policy` (reads run, writes only when the
user's own message asked for them). A refused call carries the policy's :class:`Decision`. A tool
never receives another user's id: a ``user_id`` argument that differs from the turn's user is refused
before any policy is consulted.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from recpilot.errors import RecpilotError
from recpilot.safety.defaults import default_policy
from recpilot.safety.loading import report_unusable
from recpilot.safety.policy import Decision, SafetyPolicy, ToolDeniedError
from recpilot.tools.context import ToolContext

__all__ = ["ToolCall", "ToolDeniedError", "ToolDispatcher", "ToolOutput", "ToolPolicy", "ToolSpec", "tool"]

logger = logging.getLogger("recpilot.tools")

Privilege = Literal["read", "write"]


class ToolOutput(BaseModel):
    """What a tool returns: a short summary for the brain plus structured data for traces and callers."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class ToolPolicy(Protocol):
    """Decides whether a call may run; raise :class:`ToolDeniedError` to refuse it."""

    def authorize(self, spec: ToolSpec, args: BaseModel, context: ToolContext) -> None:
        """Check one validated call before it runs."""


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool.

    Attributes:
        name: The tool's name (the function name).
        description: The docstring's summary, shown to the LLM.
        args_model: Pydantic model of the arguments (``extra="forbid"``), built from the signature.
        function: The implementation, called as ``function(context, **args)``.
        privilege: ``read`` or ``write`` (writes change the user's memory).
    """

    name: str
    description: str
    args_model: type[BaseModel]
    function: Callable[..., ToolOutput]
    privilege: Privilege = "read"

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, as sent to an LLM."""
        return self.args_model.model_json_schema()


@dataclass
class ToolCall:
    """The record of one dispatched call (successful or not)."""

    name: str
    args: dict[str, Any]
    ok: bool
    output: ToolOutput | None = None
    error: str = ""
    ms: float = 0.0
    denied: Decision | None = None


_ARG_LINE = re.compile(r"^\s{4,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section = "summary"
    current = ""
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:"):
            section = "args"
            continue
        if stripped.endswith(":") and stripped[:-1] in ("Returns", "Raises", "Yields", "Example", "Examples"):
            section = "other"
            continue
        if section == "summary":
            summary_lines.append(stripped)
        elif section == "args":
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif stripped and current:
                args[current] += " " + stripped
    summary = " ".join(" ".join(summary_lines).split())
    return summary, args


def tool(privilege: Privilege = "read") -> Callable[[Callable[..., ToolOutput]], ToolSpec]:
    """Decorator: register a typed function as a tool (its first parameter receives the context)."""

    def build(function: Callable[..., ToolOutput]) -> ToolSpec:
        signature = inspect.signature(function)
        hints = get_type_hints(function)
        summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
        fields: dict[str, Any] = {}
        for position, (name, param) in enumerate(signature.parameters.items()):
            if position == 0:
                continue  # the ToolContext
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints[name], Field(default=default, description=arg_docs.get(name)))
        args_model = create_model(
            f"{function.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        return ToolSpec(function.__name__, summary, args_model, function, privilege)

    return build


@dataclass
class ToolDispatcher:
    """Runs tool calls by name with validation, policy checks, timing and logging.

    Args:
        tools: The tools available.
        policy: Access policy consulted before each call (default: :func:`recpilot.safety.default_policy`).
            A :class:`~recpilot.safety.SafetyPolicy` that can never run some tools is reported (logged)
            when the dispatcher is built.
    """

    tools: Iterable[ToolSpec]
    policy: ToolPolicy = field(default_factory=default_policy)

    def __post_init__(self) -> None:
        self._by_name = {spec.name: spec for spec in self.tools}
        self.warnings = (
            report_unusable(self.policy, self.specs) if isinstance(self.policy, SafetyPolicy) else []
        )

    @property
    def specs(self) -> list[ToolSpec]:
        """Registered tools, in registration order."""
        return list(self._by_name.values())

    def offered(self, context: ToolContext) -> list[ToolSpec]:
        """The tools a planner is offered in the turn of ``context``: all, less those the policy
        refuses every call of in this turn (a write the user's message did not ask for). Asked of
        the policy itself (:meth:`SafetyPolicy.could_allow`); a policy of another kind offers every
        tool. Only what is offered changes: :meth:`call` still puts every call to the policy."""
        if not isinstance(self.policy, SafetyPolicy):
            return self.specs
        return [spec for spec in self.specs if self.policy.could_allow(spec, context)]

    def spec(self, name: str) -> ToolSpec | None:
        """A tool by name."""
        return self._by_name.get(name)

    def validate(self, name: str, args: Mapping[str, Any] | str | None) -> str | None:
        """Why a call of ``name`` with ``args`` cannot run (unknown tool, invalid arguments), or None.

        The checks :meth:`call` makes before the policy, for a planner to repair a plan before any
        of it runs. The user and the policy are judged only when the call is made.
        """
        checked = self._checked(name, args)
        return checked if isinstance(checked, str) else None

    def call(self, name: str, args: Mapping[str, Any] | str | None, context: ToolContext) -> ToolCall:
        """Validate and run one call; never raises for a bad call (the record says what went wrong)."""
        start = time.perf_counter()
        checked = self._checked(name, args)
        if isinstance(checked, str):
            return self._finish(ToolCall(name, {}, False, error=checked), start)
        spec, validated = checked
        values = validated.model_dump()
        other_user = values.get("user_id")
        if other_user is not None and str(other_user) != context.user_id:
            decision = Decision(
                action="deny", reason="a tool may only read or change the current user's data"
            )
            return self._finish(
                ToolCall(name, values, False, error=f"{name} refused: {decision.reason}", denied=decision),
                start,
            )
        try:
            self.policy.authorize(spec, validated, context)
        except ToolDeniedError as exc:
            return self._finish(ToolCall(name, values, False, error=str(exc), denied=exc.decision), start)
        try:
            output = spec.function(context, **{k: getattr(validated, k) for k in values})
        except RecpilotError as exc:
            return self._finish(ToolCall(name, values, False, error=str(exc)), start)
        except Exception as exc:  # a tool bug must not crash the turn; it is logged with its traceback
            logger.exception("tool %s failed", name)
            return self._finish(
                ToolCall(name, values, False, error=f"internal error in {name}: {type(exc).__name__}"), start
            )
        return self._finish(ToolCall(name, values, True, output=output), start)

    def _checked(self, name: str, args: Mapping[str, Any] | str | None) -> tuple[ToolSpec, BaseModel] | str:
        """The tool and its validated arguments, or why there are none."""
        spec = self._by_name.get(name)
        if spec is None:
            return f"unknown tool {name!r}; tools are: {', '.join(self._by_name)}"
        try:
            return spec, spec.args_model.model_validate(_as_mapping(args))
        except (ValueError, ValidationError) as exc:
            return f"invalid arguments for {name}: {_validation_message(exc)}"

    @staticmethod
    def _finish(record: ToolCall, start: float) -> ToolCall:
        record.ms = (time.perf_counter() - start) * 1000
        logger.debug("tool %s ok=%s %.1fms %s", record.name, record.ok, record.ms, record.error)
        return record


def _as_mapping(args: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if args is None:
        return {}
    if isinstance(args, str):
        parsed = json.loads(args) if args.strip() else {}
        if not isinstance(parsed, dict):
            raise ValueError("arguments must be a JSON object")
        return parsed
    return dict(args)


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err["loc"]) or "arguments"
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return str(exc)
