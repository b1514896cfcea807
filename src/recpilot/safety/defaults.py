"""The policy every interface runs with unless given another: reads run, writes need the user's words.

In words: read-only tools always run. A tool that writes the user's memory, preferences or feed rules
runs only when it is, argument for argument, one of the writes the user's own message asks for (parsed
and resolved by code from the text: which film to forget, which rule to remove, the preference's kind
and value, the rule's effect, target and duration); any other write, even of the same kind, is refused.
Deleting everything about the user runs only after the user confirmed it in this session (a temporal
rule in the Agent-C style). Anything else, including a tool the policy does not know, is refused with a
sentence the user reads.
"""

from __future__ import annotations

from recpilot.safety.policy import PolicyRule, SafetyPolicy

_NOT_ASKED = "your message did not ask me to change your saved preferences or rules"
_NOT_THIS = (
    "it is not the change you asked for (another item, rule, kind or duration than your message names)"
)


def default_policy() -> SafetyPolicy:
    """The default policy (a fresh object; policies are immutable, so sharing one is safe too)."""
    return SafetyPolicy(
        name="default",
        rules=[
            PolicyRule(privilege="read", action="allow"),
            PolicyRule(privilege="write", requested=False, action="deny", reason=_NOT_ASKED),
            # One predicate over the whole call: the write must be one the user's words name, so an
            # obeying LLM cannot forget another film, remove another rule or like another item.
            PolicyRule(privilege="write", as_requested=False, action="deny", reason=_NOT_THIS),
            PolicyRule(
                tool="forget_everything",
                confirmed=False,
                action="confirm",
                reason="deleting everything I remember about you needs your confirmation; say yes to do it",
            ),
            PolicyRule(privilege="write", as_requested=True, action="allow"),
        ],
        default="deny",
        default_reason="the policy does not know this tool",
    )


def allow_all_policy() -> SafetyPolicy:
    """Every call allowed: the "policies off" arm of the safety benchmark, never a serving default."""
    return SafetyPolicy(name="allow-all", default="allow")


_READ_ONLY = "this server only runs read-only tools; start it with --allow-write to change memory"


def read_only_policy(within: SafetyPolicy | None = None) -> SafetyPolicy:
    """Only read-only tools run: every write is refused (the MCP server's policy without ``--allow-write``).

    Args:
        within: A policy the reads must also pass (a tenant's own): its rules follow the refusal of
            writes, so the result allows only the reads ``within`` allows. None allows every read.
    """
    refuse_writes = PolicyRule(privilege="write", action="deny", reason=_READ_ONLY)
    if within is None:
        return SafetyPolicy(
            name="read-only",
            rules=[refuse_writes, PolicyRule(privilege="read", action="allow")],
            default="deny",
            default_reason=_READ_ONLY,
        )
    return within.model_copy(
        update={"name": f"read-only+{within.name}", "rules": [refuse_writes, *within.rules]}
    )
