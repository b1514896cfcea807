"""From a parsed request to a tool plan: which searches, text matching, similarity and ranking, in what order.

The most selective step runs first, so later steps work on small candidate sets: similarity to the
items referred to ("like Heat"), or the hard-constraint search, or (when only exclusions were asked)
text matching. Every argument is one the tool's schema accepts; the dispatcher checks them anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recpilot.agent.brain import ToolRunner
from recpilot.agent.types import HardConstraints, Plan, PlanStep
from recpilot.tools.context import ToolContext
from recpilot.understanding.request import ItemReference, ParsedRequest

# Pools are the most popular matches: plenty to rank from, and large result sets are slow to build.
SEARCH_LIMIT = 1000
# A description is matched over every item the constraints allow, not only the best known.
FULL_SEARCH_LIMIT = 10_000


@dataclass(frozen=True)
class PlanSettings:
    """How the offline brain weighs its signals (see :class:`~recpilot.agent.offline.OfflineBrain`)."""

    description_pool: int = 60
    description_weight: float = 0.7
    similarity_weight: float = 0.9
    content_weight: float = 0.5


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a recommendation plan includes (later attempts drop soft parts).

    Attributes:
        description: Text to match, or "" to rank without it.
        liked: Items to find similar ones to.
        similar_first: Start from what is similar to ``liked`` (else score similarity last).
        exclude_seen: Leave out what the user has seen (for rankings that keep it).
        k: How many items the ranking keeps (more than shown: grounding may drop some).
        wanted: How many items the user asked for.
    """

    description: str
    liked: Sequence[ItemReference]
    similar_first: bool
    exclude_seen: bool
    k: int
    wanted: int


def recommendation_plan(
    tools: ToolRunner,
    parsed: ParsedRequest,
    constraints: HardConstraints,
    model: str,
    attempt: Attempt,
    settings: PlanSettings,
) -> Plan:
    """similar (when first) -> search and describe (the more selective first) -> similar -> rank."""
    plan: list[PlanStep] = []
    items = [str(r.item_id) for r in attempt.liked]
    similar = PlanStep(tool="similar_items", args={"items": items, "content_weight": settings.content_weight})
    if attempt.liked and attempt.similar_first:
        plan.append(similar)
    limit = FULL_SEARCH_LIMIT if attempt.description else SEARCH_LIMIT
    searches = _searches(parsed, constraints, limit)
    describe = _describe(tools, parsed, attempt, settings)
    if describe and describe_first(parsed, constraints) and describe[-1].tool == "match_description":
        plan.extend([*describe, *searches])
    else:
        plan.extend([*searches, *describe])
    if attempt.liked and not attempt.similar_first:
        plan.append(similar)
    rank: dict[str, Any] = {"model": model, "k": attempt.k}
    if attempt.liked:
        rank["similarity_weight"] = settings.similarity_weight
    elif attempt.description:
        rank["similarity_weight"] = settings.description_weight
    plan.append(PlanStep(tool="rank_candidates", args=rank))
    return Plan(
        intent="recommend", steps=plan, constraints=constraints, note=f"offline plan, {len(plan)} steps"
    )


def describe_first(parsed: ParsedRequest, constraints: HardConstraints) -> bool:
    """Exclusions alone select little: text matching goes first and the exclusions narrow its picks."""
    return not (constraints.attributes or constraints.numeric or parsed.also_required)


def in_words(parsed: ParsedRequest) -> str:
    """The description as the user put it: topics and leftover words ("heartwarming, dog story")."""
    return ", ".join([*parsed.topics, *([parsed.leftover] if parsed.leftover else [])])


def _searches(parsed: ParsedRequest, constraints: HardConstraints, limit: int) -> list[PlanStep]:
    """Catalog searches for the hard constraints: one per genre group that must hold."""
    search: dict[str, Any] = {"limit": limit}
    if constraints.attributes:
        search["attributes"] = constraints.attributes
    if constraints.exclude_attributes:
        search["exclude_attributes"] = constraints.exclude_attributes
    if constraints.numeric:
        search["numeric"] = {name: r.model_dump() for name, r in constraints.numeric.items()}
    steps = [PlanStep(tool="search_catalog", args=search)] if len(search) > 1 else []
    for group in parsed.also_required:
        args = {"attributes": {group.attribute: group.values}, "limit": limit}
        steps.append(PlanStep(tool="search_catalog", args=args))
    return steps


def _describe(
    tools: ToolRunner, parsed: ParsedRequest, attempt: Attempt, settings: PlanSettings
) -> list[PlanStep]:
    """Leave out what the user has seen, then match the description (text or keywords)."""
    plan: list[PlanStep] = []
    if attempt.exclude_seen:
        # Before matching text, so the best matches kept are ones the user has not seen.
        plan.append(PlanStep(tool="exclude_seen"))
    if not attempt.description:
        return plan
    if tools.dispatcher.spec("match_description") is not None:
        label = in_words(parsed) or attempt.description
        # A sentence encoder reads the user's own words best; TF-IDF gains from the expansion into
        # catalog terms and attribute tokens.
        text = label if _encodes_sentences(tools.context) else attempt.description
        args = {"text": text, "k": settings.description_pool, "min_keep": attempt.wanted + 10, "label": label}
        plan.append(PlanStep(tool="match_description", args=args))
    else:
        # Full-text search reads words: the user's, not the content model's attribute tokens.
        keywords = " ".join([*parsed.topics, parsed.leftover]).strip() or attempt.description
        plan.append(PlanStep(tool="search_catalog", args={"keywords": keywords}))
    return plan


def _encodes_sentences(ctx: ToolContext) -> bool:
    """Whether the content model embeds sentences (MiniLM) rather than weighting terms (TF-IDF)."""
    config = getattr(ctx.models.get("content"), "config", None)
    return getattr(config, "encoder", "tfidf") != "tfidf"
