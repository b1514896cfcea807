"""Declarative privilege policies for tool calls, enforced in :class:`~recpilot.tools.ToolDispatcher`.

A :class:`SafetyPolicy` is an ordered list of :class:`PolicyRule`\\ s; the first rule that matches a
call decides it (``allow``, ``deny`` or ``confirm``: ask the user first), and a call no rule matches
gets the policy's ``default``. A rule matches on the tool's name (a glob), its privilege, predicates
over the validated arguments and conditions on the turn: whether the user's own message asked for this
write (:class:`~recpilot.safety.request.UserRequest`, judged by code from the user's text) and whether
the user confirmed it earlier in the session. Policies load from TOML or JSON
(:func:`recpilot.safety.loading.load_policy`) and compose (:meth:`SafetyPolicy.then`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recpilot.errors import RecpilotError
from recpilot.safety.calls import CallerContext, GuardedTool
from recpilot.safety.request import UserRequest, said_in

Action = Literal["allow", "deny", "confirm"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgPredicate(_Model):
    """A condition on one argument of a call; every field given must hold.

    Attributes:
        arg: The argument's name.
        present: The argument is given (not None) / left out.
        equals: The value equals this.
        one_of: The value is one of these.
        min: The value (a number) is at least this.
        max: The value (a number) is at most this.
        matches: The value, as text, matches this regular expression (anywhere, case-insensitive).
        said_by_user: The value is something the user said: every word of it appears in the user's
            own message, or it is an item or value code found in that message (``UserRequest.mentions``).
            "Remember that I like Heat" may store Heat; a title an injected text names may not.
        stated: The value is one the user's words fix for this argument (``UserRequest.stated``):
            "remember that I love westerns" states a ``like_attribute``, not a ``dislike_attribute``.
            A number (``days``) holds when it is at most the stated one; a missing number means
            "forever" and holds only when the user stated no end either.
    """

    arg: str
    present: bool | None = None
    equals: Any = None
    one_of: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    matches: str | None = None
    said_by_user: bool | None = None
    stated: bool | None = None

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return pattern

    def holds(self, args: Mapping[str, Any], request: UserRequest) -> bool:
        """Whether the condition holds for ``args`` in the turn of ``request``."""
        value = args.get(self.arg)
        if self.present is not None and (value is not None) != self.present:
            return False
        if self.equals is not None and value != self.equals:
            return False
        if self.one_of is not None and value not in self.one_of:
            return False
        if self.min is not None or self.max is not None:
            number = _number(value)
            if number is None or (self.min is not None and number < self.min):
                return False
            if self.max is not None and number > self.max:
                return False
        if self.matches is not None and (
            value is None or not re.search(self.matches, str(value), re.IGNORECASE)
        ):
            return False
        if self.stated is not None and _stated(self.arg, value, request) != self.stated:
            return False
        return self.said_by_user is None or _said(value, request) == self.said_by_user


class PolicyRule(_Model):
    """One rule: which calls it matches and what it decides.

    Attributes:
        tool: Tool name or glob (``*``, ``*_feed_rule``).
        privilege: Match only ``read`` or only ``write`` tools.
        requested: Match only calls whose kind of write the user's message asked for (True) or did not
            (False).
        as_requested: Match only calls that are, argument for argument, one of the concrete writes
            parsed from the user's message (True: :meth:`UserRequest.allows`) or are not (False):
            "forget Toy Story" lets ``forget_preference`` forget Toy Story, and nothing else.
        confirmed: Match only calls the user confirmed in this session (True) or did not (False).
        args: Conditions on the arguments; all must hold.
        action: ``allow``, ``deny`` or ``confirm`` (refused now, with a question the user can say yes to).
        reason: The plain sentence the user reads when this rule refuses a call.
    """

    tool: str = "*"
    privilege: Literal["read", "write"] | None = None
    requested: bool | None = None
    as_requested: bool | None = None
    confirmed: bool | None = None
    args: list[ArgPredicate] = Field(default_factory=list)
    action: Action
    reason: str = ""

    def matches(self, call: PolicyCall) -> bool:
        """Whether this rule applies to ``call``."""
        if not fnmatch.fnmatchcase(call.tool, self.tool):
            return False
        if self.privilege is not None and call.privilege != self.privilege:
            return False
        if self.requested is not None and call.request.asks_for(call.tool) != self.requested:
            return False
        if self.as_requested is not None and (call.request.allows(call.tool, call.args) != self.as_requested):
            return False
        if self.confirmed is not None and (call.tool in call.request.confirmed) != self.confirmed:
            return False
        return all(p.holds(call.args, call.request) for p in self.args)

    def matches_any(self, tool: str, privilege: str, request: UserRequest) -> bool | None:
        """Whether this rule matches every call of ``tool`` in the turn of ``request`` (True), none
        (False), or some, depending on the arguments (None). The conditions on the turn are those
        :meth:`matches` checks; only the ones on arguments are left undecided."""
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        if self.privilege is not None and privilege != self.privilege:
            return False
        if self.requested is not None and request.asks_for(tool) != self.requested:
            return False
        if self.confirmed is not None and (tool in request.confirmed) != self.confirmed:
            return False
        undecided = bool(self.args)
        if self.as_requested is not None:
            # A call can be one of the requested writes only if one of them is a write of this tool.
            possible = any(write.tool == tool for write in request.allowed)
            if self.as_requested and not possible:
                return False
            undecided = undecided or possible
        return None if undecided else True


@dataclass(frozen=True)
class PolicyCall:
    """A validated call as a policy sees it."""

    tool: str
    privilege: str
    args: Mapping[str, Any]
    request: UserRequest
    user_id: str = ""


class Decision(_Model):
    """What a policy decided about one call.

    Attributes:
        action: allow, deny or confirm.
        reason: Why, in a sentence for the user.
        rule: Index of the deciding rule in the policy (-1: the default).
        policy: The policy's name.
    """

    action: Action
    reason: str = ""
    rule: int = -1
    policy: str = ""


class ToolDeniedError(RecpilotError):
    """A policy refused a tool call; ``decision`` says which rule and why."""

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.decision = decision or Decision(action="deny", reason=message)


class SafetyPolicy(_Model):
    """An ordered rule list; the first matching rule decides, else ``default``.

    Attributes:
        name: Shown in traces and start-up reports.
        rules: The rules, in order.
        default: The decision for calls no rule matches.
        default_reason: The sentence shown when the default refuses a call.
    """

    name: str = "policy"
    rules: list[PolicyRule] = Field(default_factory=list)
    default: Action = "deny"
    default_reason: str = "no rule of the policy allows this tool"

    def decide(self, call: PolicyCall) -> Decision:
        """The decision for one call."""
        for index, rule in enumerate(self.rules):
            if rule.matches(call):
                reason = rule.reason or _default_reason(rule.action, call.tool)
                return Decision(action=rule.action, reason=reason, rule=index, policy=self.name)
        return Decision(action=self.default, reason=self.default_reason, policy=self.name)

    def authorize(self, spec: GuardedTool, args: BaseModel, context: CallerContext) -> None:
        """The dispatcher's hook: raise :class:`ToolDeniedError` unless the call is allowed."""
        call = PolicyCall(spec.name, spec.privilege, args.model_dump(), context.request, context.user_id)
        decision = self.decide(call)
        if decision.action != "allow":
            raise ToolDeniedError(f"{spec.name} refused: {decision.reason}", decision)

    def could_allow(self, spec: GuardedTool, context: CallerContext) -> bool:
        """Whether some call of ``spec`` could run (or be held for confirmation) in this turn.

        False only when the policy refuses every call of the tool whatever its arguments, as
        :meth:`decide` would: a planner need not be offered it this turn (the dispatcher still
        decides every call made). A rule whose match depends on the arguments is assumed to match
        when it would allow and not to when it would refuse, so the answer errs towards True.
        """
        for rule in self.rules:
            match = rule.matches_any(spec.name, spec.privilege, context.request)
            if match is False or (match is None and rule.action == "deny"):
                continue
            return rule.action != "deny"
        return self.default != "deny"

    def then(self, other: SafetyPolicy) -> SafetyPolicy:
        """This policy's rules first, then ``other``'s, with ``other``'s default."""
        return SafetyPolicy(
            name=f"{self.name}+{other.name}",
            rules=[*self.rules, *other.rules],
            default=other.default,
            default_reason=other.default_reason,
        )

    def unusable_tools(self, specs: Iterable[GuardedTool]) -> list[str]:
        """Tools no call can ever run under this policy (no allow/confirm rule can match their name)."""
        blocked: list[str] = []
        for spec in specs:
            reachable = self.default != "deny" or any(
                rule.action != "deny"
                and fnmatch.fnmatchcase(spec.name, rule.tool)
                and rule.privilege in (None, spec.privilege)
                for rule in self.rules
            )
            if not reachable:
                blocked.append(spec.name)
        return blocked


def _default_reason(action: Action, tool: str) -> str:
    if action == "confirm":
        return f"{tool} needs your confirmation first; say yes to go ahead"
    return f"the policy does not allow {tool} here"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _stated(arg: str, value: Any, request: UserRequest) -> bool:
    """Whether the user's words fix ``value`` for ``arg`` (numbers: at most the stated one)."""
    allowed = request.stated.get(arg)
    if not allowed:
        return False
    limits = [float(a) for a in allowed if _is_number(a)]
    if limits:
        number = float("inf") if value is None else _number(value)
        return number is not None and number <= max(limits) * 1.001
    return str(value).casefold() in {a.casefold() for a in allowed}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _said(value: Any, request: UserRequest) -> bool:
    """Whether the user said ``value`` (None and empty values are trivially said)."""
    if value is None:
        return True
    # "genres=Horror": the user says the value, not the attribute
    return str(value).casefold() in request.mentions or said_in(value, request.text)
