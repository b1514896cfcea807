"""Grounding, enforced in code: every shown item exists in the catalog and satisfies the hard constraints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from recpilot.agent.types import HardConstraints, ItemId, TraceStep
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
