"""Keeping a user's feed rules: add (the latest instruction wins), list (expired ones marked) and remove.

Shared by the offline brain, the LLM brain's feed tools and ``recpilot rules``, so every interface
words and resolves rules the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recpilot.memory.base import ProfileMemory
from recpilot.memory.feed_rules import FeedRule, FeedTarget, same_target
from recpilot.memory.values import MemoryValueError, check_feed_rule


@dataclass
class RuleChange:
    """What a change to the rules did.

    Attributes:
        stored: Rules added (or restated: the same id comes back).
        removed: Rules deleted.
        missing: Rule ids or targets the user named that match none of their rules.
        refused: Why rules were not stored (a value memory refuses, see :mod:`recpilot.memory.values`).
    """

    stored: list[FeedRule] = field(default_factory=list)
    removed: list[FeedRule] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        """The change as JSON-ready data (a tool result's ``change``)."""
        return {
            "stored": [r.model_dump(mode="json") for r in self.stored],
            "removed": [r.model_dump(mode="json") for r in self.removed],
            "missing": list(self.missing),
            "refused": list(self.refused),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> RuleChange:
        """The change :meth:`to_data` wrote."""
        return cls(
            stored=[FeedRule.model_validate(r) for r in data.get("stored", [])],
            removed=[FeedRule.model_validate(r) for r in data.get("removed", [])],
            missing=[str(m) for m in data.get("missing", [])],
            refused=[str(r) for r in data.get("refused", [])],
        )

    def merged(self, other: RuleChange) -> RuleChange:
        """This change and ``other`` together (several tool calls of one command)."""
        return RuleChange(
            [*self.stored, *other.stored],
            [*self.removed, *other.removed],
            [*self.missing, *other.missing],
            [*self.refused, *other.refused],
        )


def add_feed_rules(memory: ProfileMemory, user_id: str, rules: Sequence[FeedRule]) -> RuleChange:
    """Store rules for a user; an active rule with the same target and another effect is removed first
    ("no more horror" after "show me more horror": the latest instruction wins)."""
    change = RuleChange()
    for rule in rules:
        try:
            check_feed_rule(rule)
        except MemoryValueError as exc:
            change.refused.append(str(exc))
            continue
        for existing in memory.feed_rules(user_id):
            conflicting = same_target(existing.target, rule.target) and existing.effect != rule.effect
            if conflicting and memory.remove_feed_rule(user_id, existing.id):
                change.removed.append(existing)
        change.stored.append(memory.add_feed_rule(user_id, rule.model_copy(update={"user_id": user_id})))
    return change


def remove_feed_rules(
    memory: ProfileMemory, user_id: str, *, ids: Sequence[int] = (), targets: Sequence[FeedTarget] = ()
) -> RuleChange:
    """Remove rules by id, or every rule (active or expired) about a target ("allow horror again").

    An id or target that matches none of the user's rules is reported in :attr:`RuleChange.missing`;
    nothing else is touched.
    """
    change = RuleChange()
    known = {rule.id: rule for rule in memory.feed_rules(user_id, include_expired=True)}
    for rule_id in ids:
        rule = known.get(rule_id)
        if rule is not None and memory.remove_feed_rule(user_id, rule_id):
            change.removed.append(rule)
        else:
            change.missing.append(f"#{rule_id}")
    for target in targets:
        matching = [rule for rule in known.values() if same_target(rule.target, target)]
        removed = [rule for rule in matching if memory.remove_feed_rule(user_id, rule.id)]
        change.removed.extend(removed)
        if not removed:
            change.missing.append(target.describe())
    return change


def describe_rules(rules: Sequence[FeedRule], *, now: float | None = None) -> str:
    """A listing for the chat: active rules first, then the expired ones, each with its id."""
    now = time.time() if now is None else now
    if not rules:
        return "You have no feed rules. Say e.g. “no more horror this week” or “stop recommending sequels”."
    active = [r for r in rules if r.active(now)]
    expired = [r for r in rules if not r.active(now)]
    lines: list[str] = []
    if active:
        lines.append(
            "Your feed rules: "
            + "; ".join(f"{r.describe(now)} — “{r.text}”, from {r.provenance.describe()}" for r in active)
            + "."
        )
    if expired:
        lines.append("Expired (no longer applied): " + "; ".join(r.describe(now) for r in expired) + ".")
    lines.append("Say “remove rule N” to delete one.")
    return " ".join(lines)


def describe_change(change: RuleChange, *, until: str = "", unknown: Sequence[str] = ()) -> str:
    """A confirmation for the chat: what was stored, replaced, removed, or could not be applied."""
    parts: list[str] = []
    if change.stored:
        what = "; ".join(f"{_effect_words(r)} (rule #{r.id})" for r in change.stored)
        parts.append(f"Got it: {what}, {until or 'until you remove it'}.")
    replaced = [r for r in change.removed if change.stored]
    if replaced:
        parts.append("That replaces " + ", ".join(f"rule #{r.id} ({r.effect})" for r in replaced) + ".")
    elif change.removed:
        parts.append(
            "Removed "
            + ", ".join(f"rule #{r.id} ({r.effect} {r.target.describe()})" for r in change.removed)
            + "."
        )
    if change.missing:
        parts.append(
            "You have no rule " + " or ".join(change.missing) + "; say “what are my rules?” to see them."
        )
    if unknown:
        names = ", ".join(f"“{u}”" for u in unknown)
        parts.append(f"I can't filter on {names}: this catalog has no such genre, tag or attribute.")
    if change.refused:
        parts.append("I did not store a rule: " + "; ".join(change.refused) + ".")
    if change.stored:
        parts.append("Say “what are my rules?” to see them.")
    return " ".join(parts) or "Nothing changed."


def _effect_words(rule: FeedRule) -> str:
    verb = {"exclude": "no more", "boost": "more", "require": "only"}[rule.effect]
    return f"{verb} {rule.target.describe()}"
