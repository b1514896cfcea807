"""The policy every interface runs with unless given another: reads run, writes need the user's words.

In words: read-only tools always run. A tool that writes the user's memory, preferences or feed rules
runs only when the user's own message asked for that kind of write (judged by code from the text), the
values it stores must be words the user said, and what the user's words fix (the kind of preference,
the rule's effect, how long it lasts) must match. Deleting everything about the user runs only after
the user confirmed it in this session (a temporal rule in the Agent-C style). Anything else,
including a tool the policy does not know, is refused with a sentence the user reads.
"""

from __future__ import annotations

from recpilot.safety.policy import ArgPredicate, PolicyRule, SafetyPolicy

_NOT_ASKED = "your message did not ask me to change your saved preferences or rules"
_NOT_SAID = "it would store something you did not say"


def default_policy() -> SafetyPolicy:
    """The default policy (a fresh object; policies are immutable, so sharing one is safe too)."""
    return SafetyPolicy(
        name="default",
        rules=[
            PolicyRule(privilege="read", action="allow"),
            PolicyRule(privilege="write", requested=False, action="deny", reason=_NOT_ASKED),
            PolicyRule(
                tool="forget_everything",
                confirmed=False,
                action="confirm",
                reason="deleting everything I remember about you needs your confirmation; say yes to do it",
            ),
            PolicyRule(
                tool="remember_preference",
                args=[ArgPredicate(arg="value", said_by_user=False)],
                action="deny",
                reason=_NOT_SAID,
            ),
            PolicyRule(
                tool="remember_preference",
                args=[ArgPredicate(arg="kind", stated=False)],
                action="deny",
                reason=_NOT_SAID,
            ),
            PolicyRule(
                tool="add_feed_rule",
                args=[ArgPredicate(arg="value", said_by_user=False)],
                action="deny",
                reason=_NOT_SAID,
            ),
            PolicyRule(
                tool="add_feed_rule",
                args=[ArgPredicate(arg="effect", stated=False)],
                action="deny",
                reason=_NOT_SAID,
            ),
            PolicyRule(
                tool="add_feed_rule",
                args=[ArgPredicate(arg="days", stated=False)],
                action="deny",
                reason="it would keep the rule longer than you said",
            ),
            PolicyRule(privilege="write", requested=True, action="allow"),
        ],
        default="deny",
        default_reason="the policy does not know this tool",
    )


def allow_all_policy() -> SafetyPolicy:
    """Every call allowed: the "policies off" arm of the safety benchmark, never a serving default."""
    return SafetyPolicy(name="allow-all", default="allow")


def read_only_policy() -> SafetyPolicy:
    """Only read-only tools run (the MCP server's default without ``--allow-write``)."""
    return SafetyPolicy(
        name="read-only",
        rules=[PolicyRule(privilege="read", action="allow")],
        default="deny",
        default_reason="this server only runs read-only tools; start it with --allow-write to change memory",
    )
