"""Grounding, enforced in code: every shown item exists in the catalog and satisfies the hard constraints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from recpilot.agent.types import HardConstraints, ItemId, NumericRange, TraceStep
from recpilot.tools.context import Catalog


def ground(
    catalog: Catalog,
    ranked: Iterable[tuple[ItemId, float]],
    constraints: HardConstraints,
    trace: list[TraceStep],
) -> list[tuple[ItemId, float]]:
    """Keep ranked items that exist and satisfy every hard constraint; record each drop in ``trace``."""
    kept: list[tuple[ItemId, float]] = []
    seen: set[str] = set()
    for item, score in ranked:
        key = str(item)
        if key in seen:
            continue
        seen.add(key)
        if not catalog.has_item(item):
            _drop(trace, "dropped", {"item_id": item}, "not in the catalog")
            continue
        problems = catalog.violations(item, constraints)
        if problems:
            _drop(trace, "dropped", {"item_id": item}, "; ".join(problems))
            continue
        kept.append((catalog.coerce_item_id(item), score))
    return kept


def resolve_named(
    catalog: Catalog,
    named: Sequence[ItemId],
    grounded: Sequence[tuple[ItemId, float]],
    constraints: HardConstraints,
    trace: list[TraceStep],
) -> list[tuple[ItemId, float]]:
    """Map the items a brain chose (ids or titles) onto grounded items.

    A grounded id is kept with its score; an id or title that is not grounded is resolved through
    catalog search and kept only if the resolved item satisfies the constraints; anything else is
    dropped and recorded. Nothing outside the catalog is ever returned.
    """
    scores = {str(item): (item, score) for item, score in grounded}
    chosen: list[tuple[ItemId, float]] = []
    used: set[str] = set()
    for name in named:
        key = (
            str(catalog.coerce_item_id(name))
            if not isinstance(name, str) or name.strip().isdigit()
            else str(name)
        )
        if key in scores and key not in used:
            chosen.append(scores[key])
            used.add(key)
            continue
        matches = catalog.resolve(name)
        if not matches:
            _drop(trace, "unresolved", {"named": name}, "not in the catalog; dropped")
            continue
        item = matches[0]
        if str(item) in used:
            continue
        problems = catalog.violations(item, constraints)
        if problems:
            _drop(trace, "dropped", {"named": name, "item_id": item}, "; ".join(problems))
            continue
        used.add(str(item))
        chosen.append(scores.get(str(item), (item, 0.0)))
        trace.append(
            TraceStep(
                kind="grounding",
                name="resolved",
                args={"named": name, "item_id": item},
                detail="resolved by search",
            )
        )
    return chosen


def _drop(trace: list[TraceStep], name: str, args: dict[str, object], detail: str) -> None:
    trace.append(TraceStep(kind="grounding", name=name, args=args, ok=False, detail=detail))


def with_users_constraints(
    planned: HardConstraints, stated: HardConstraints, trace: list[TraceStep]
) -> HardConstraints:
    """The constraints to ground with: the plan's, with every constraint the user stated in force.

    The user's words win: an attribute or range the user stated replaces the plan's for that attribute
    unless the plan's is narrower, and the user's exclusions are added. Where the plan left out or
    contradicted what the user said, a ``plan_contradicts_user`` grounding step records it.
    """
    problems: list[str] = []
    attributes = dict(planned.attributes)
    for name, values in stated.attributes.items():
        wanted = {v.lower() for v in values}
        have = {v.lower() for v in attributes.get(name, [])}
        if not have or not have <= wanted:
            problems.append(f"{name} should be one of {values}, the plan had {attributes.get(name, [])}")
            attributes[name] = list(values)
    exclude = {k: list(v) for k, v in planned.exclude_attributes.items()}
    for name, values in stated.exclude_attributes.items():
        missing = {v.lower() for v in values} - {v.lower() for v in exclude.get(name, [])}
        if missing:
            problems.append(f"{name} must exclude {sorted(missing)}")
        exclude[name] = sorted({*exclude.get(name, []), *values})
    numeric = dict(planned.numeric)
    for name, rng in stated.numeric.items():
        plan = numeric.get(name)
        if plan is None or not _within(plan, rng):
            problems.append(f"{name} should be in [{rng.min}, {rng.max}], the plan had {plan}")
            numeric[name] = rng
    if problems:
        trace.append(
            TraceStep(
                kind="grounding",
                name="plan_contradicts_user",
                ok=False,
                detail="; ".join(problems)[:500],
            )
        )
    return planned.model_copy(
        update={"attributes": attributes, "exclude_attributes": exclude, "numeric": numeric}
    )


def _within(inner: NumericRange, outer: NumericRange) -> bool:
    low_ok = outer.min is None or (inner.min is not None and inner.min >= outer.min)
    high_ok = outer.max is None or (inner.max is not None and inner.max <= outer.max)
    return low_ok and high_ok
