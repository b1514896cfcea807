"""Typed tools for conversational turns: critiques of the list shown, and the user's feed rules.

The LLM brain sees them beside the recommender tools (the agent registers both); the offline brain
reads the same instructions from the message itself and calls the same functions underneath
(:mod:`recpilot.conversation.critiques`, :mod:`recpilot.conversation.feed_store`).
"""

from __future__ import annotations

import time
from typing import Any

from recpilot.conversation.critiques import (
    MOODS,
    POPULARITY,
    ParsedCritique,
    apply_critique,
    reference_value,
)
from recpilot.conversation.feed_store import (
    add_feed_rules,
    describe_change,
    describe_rules,
    remove_feed_rules,
)
from recpilot.errors import ConfigError
from recpilot.memory.dialogue import CritiqueKind
from recpilot.memory.feed_rules import (
    MAX_RULE_SECONDS,
    AttributeTarget,
    FeedEffect,
    FeedRule,
    FeedTarget,
    NumericTarget,
    TitlePatternTarget,
)
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolOutput, ToolSpec, tool


@tool(privilege="write")
def critique_shown(
    ctx: ToolContext,
    kind: CritiqueKind,
    position: int | None = None,
    attribute: str | None = None,
) -> ToolOutput:
    """Record the user's critique of the list shown last; later rankings this turn and session obey it.

    Args:
        kind: reject ("not this one"), more_like ("more like the second one"), less / more of an
            attribute ("less violent"), lower / higher on a numeric attribute ("older" is lower year),
            or other ("something else": the whole last list is rejected).
        position: 1-based position in the list shown last, for reject and more_like.
        attribute: For less / more: "genres=Action" or a mood word such as "violent"; for lower /
            higher: the numeric attribute ("year", "popularity").
    """
    state = ctx.dialogue
    if state is None:
        raise ConfigError("critique_shown needs a dialogue session; this agent keeps no dialogue state")
    shown = state.last_shown
    item: str | None = None
    if kind in ("reject", "more_like"):
        if position is None or not 1 <= position <= len(shown):
            raise ConfigError(
                f"position {position} is not in the list shown last ({len(shown)} items); "
                "ask the user which one they mean"
            )
        item = shown[position - 1]
    attributes: list[str] = []
    numeric: str | None = None
    reference: float | None = None
    if kind in ("less", "more"):
        attributes = _attributes(attribute)
    if kind in ("lower", "higher"):
        numeric = (attribute or "").strip().lower()
        frame = ctx.catalog.dataset.catalog
        if numeric != POPULARITY and numeric not in frame.columns:
            raise ConfigError(f"the catalog has no numeric attribute {attribute!r}; it cannot go {kind}")
        reference = reference_value(ctx, numeric, shown)
    critique = ParsedCritique(kind=kind, item_id=item, attributes=attributes, numeric=numeric, text="(tool)")
    record = apply_critique(state, critique, reference=reference)
    return ToolOutput(
        summary=f"recorded {record.kind}"
        + (f" of {ctx.catalog.title(item)}" if item is not None else "")
        + (f" on {', '.join(attributes)}" if attributes else "")
        + (f" on {numeric} around {reference:g}" if reference is not None else "")
        + "; rank again to show the changed list",
        data={"critique": record.model_dump(), "rejected": list(state.rejected_items)},
    )


@tool(privilege="write")
def add_feed_rule(
    ctx: ToolContext,
    effect: FeedEffect,
    attribute: str | None = None,
    value: str | None = None,
    sequels: bool = False,
    min_value: float | None = None,
    max_value: float | None = None,
    days: float | None = None,
    text: str = "",
) -> ToolOutput:
    """Store a standing instruction ("no more horror this week") that every later recommendation obeys.

    Args:
        effect: exclude matching items, boost them, or require the target (drop everything else).
        attribute: The attribute: "genres" with a value, or a numeric one such as "year" with a range.
        value: The attribute value, e.g. "Horror".
        sequels: Target titles that look like sequels instead of an attribute.
        min_value: Lower bound (inclusive) of a numeric attribute.
        max_value: Upper bound (inclusive) of a numeric attribute.
        days: How long the rule lasts (more than 0); None, or more than 100 years, until the user
            removes it.
        text: The user's words.
    """
    target = _target(attribute, value, sequels, min_value, max_value)
    if days is not None and not days > 0:  # also NaN
        raise ConfigError(f"days must be more than 0 (or left out: until removed), got {days}")
    if days is not None and days * 86_400 > MAX_RULE_SECONDS:  # also inf
        days = None
    now = time.time()
    expires = None if days is None else now + days * 86_400
    rule = FeedRule(
        user_id=ctx.user_id,
        effect=effect,
        target=target,
        text=text,
        expires_at=expires,
        provenance=ctx.request.write_provenance(),
    )
    change = add_feed_rules(ctx.memory, ctx.user_id, [rule])
    until = "until removed" if days is None else f"for {days:g} days"
    return ToolOutput(
        summary=describe_change(change, until=until),
        data={"rules": [r.model_dump(mode="json") for r in change.stored], "change": change.to_data()},
    )


@tool()
def list_feed_rules(ctx: ToolContext) -> ToolOutput:
    """The user's feed rules with their ids, the active ones and the expired ones (no longer applied)."""
    rules = ctx.memory.feed_rules(ctx.user_id, include_expired=True)
    now = time.time()
    return ToolOutput(
        summary=describe_rules(rules, now=now),
        data={"rules": [{**r.model_dump(mode="json"), "active": r.active(now)} for r in rules]},
    )


@tool(privilege="write")
def remove_feed_rule(
    ctx: ToolContext,
    rule_id: int | None = None,
    attribute: str | None = None,
    value: str | None = None,
    sequels: bool = False,
) -> ToolOutput:
    """Delete a feed rule by its id, or every rule about a target ("allow horror again").

    Args:
        rule_id: The id shown by list_feed_rules.
        attribute: With value: the attribute of the rules to remove, e.g. "genres".
        value: The attribute value, e.g. "Horror".
        sequels: Remove the rules about sequels.
    """
    targets: list[FeedTarget] = []
    if sequels:
        targets.append(TitlePatternTarget(pattern="sequel"))
    if attribute and value:
        targets.append(AttributeTarget(attribute=attribute, value=value))
    if rule_id is None and not targets:
        raise ConfigError("remove_feed_rule needs a rule_id, an attribute and value, or sequels=true")
    change = remove_feed_rules(
        ctx.memory, ctx.user_id, ids=[rule_id] if rule_id is not None else [], targets=targets
    )
    return ToolOutput(
        summary=describe_change(change),
        data={"removed": [r.id for r in change.removed], "change": change.to_data()},
    )


def add_rule_args(rule: FeedRule, *, now: float) -> dict[str, Any]:
    """The :func:`add_feed_rule` arguments that store ``rule`` (``days`` counted from ``now``): the call
    the offline brain makes for a feed command, and the write the safety judge expects for it."""
    args: dict[str, Any] = {"effect": rule.effect, "text": rule.text}
    target = rule.target
    if isinstance(target, TitlePatternTarget):
        args["sequels"] = True
    elif isinstance(target, AttributeTarget):
        args.update(attribute=target.attribute, value=target.value)
    else:
        args.update(attribute=target.attribute, min_value=target.min, max_value=target.max)
    if rule.expires_at is not None:
        args["days"] = (rule.expires_at - now) / 86_400
    return args


def remove_rule_args(target: FeedTarget) -> dict[str, Any] | None:
    """The :func:`remove_feed_rule` arguments that remove the rules about ``target`` (None for a numeric
    range, which is removed by rule id)."""
    if isinstance(target, TitlePatternTarget):
        return {"sequels": True}
    if isinstance(target, AttributeTarget):
        return {"attribute": target.attribute, "value": target.value}
    return None


#: Registered by the agent beside :data:`recpilot.tools.RECOMMENDER_TOOLS`.
CONVERSATION_TOOLS: tuple[ToolSpec, ...] = (critique_shown, add_feed_rule, list_feed_rules, remove_feed_rule)


def _attributes(attribute: str | None) -> list[str]:
    text = (attribute or "").strip()
    if "=" in text:
        return [text]
    values = MOODS.get(text.lower())
    if values:
        return [f"genres={v}" for v in values]
    raise ConfigError(f"less/more needs 'genres=Value' or a mood word such as 'violent', got {attribute!r}")


def _target(
    attribute: str | None, value: str | None, sequels: bool, low: float | None, high: float | None
) -> FeedTarget:
    if sequels:
        return TitlePatternTarget(pattern="sequel")
    if attribute and value:
        return AttributeTarget(attribute=attribute, value=value)
    if attribute and (low is not None or high is not None):
        return NumericTarget(attribute=attribute, min=low, max=high)
    raise ConfigError(
        "a feed rule needs attribute and value, attribute with min_value/max_value, or sequels=true"
    )
