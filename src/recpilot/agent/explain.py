"""Reasons for the agent's grounded items, from the one ranking pipeline's explanations.

The agent explains after grounding (the constraints it grounded with may be the user's, merged into
the plan's), so it asks :meth:`recpilot.ranking.Ranking.explain` for each item with the turn's user,
likes, constraints, ranking and the evidence its tools collected. The wording is
:mod:`recpilot.ranking.words`: the web page's cards, "why?" answers (:func:`why_sentence`),
``/v1/recommend``, MCP and the CLI say the same thing about the same item.
"""

from __future__ import annotations

from recpilot.agent.types import HardConstraints, ItemId, Reason
from recpilot.ranking import Ranking, RankingRequest, ids_as_text
from recpilot.ranking.words import why_sentence as why_sentence
from recpilot.tools.context import ToolContext


def explain(
    ctx: ToolContext, item: ItemId, constraints: HardConstraints, *, ranked_by: str | None = None
) -> list[Reason]:
    """Reasons for one grounded item, each tied to evidence.

    Args:
        ctx: The turn's context (catalog, models, candidate set with per-item reasons, the user).
        item: The item.
        constraints: The hard constraints the item was checked against.
        ranked_by: The ranking model's role; defaults to the candidate set's (no ranking reason when
            nothing ranked the items).
    """
    ranking = Ranking.of(ctx)
    role = ranked_by or ctx.candidates.ranked_by
    request = RankingRequest(
        user_id=ctx.user_id,
        liked=ids_as_text(ctx.liked_items()),
        constraints=constraints,
        model=role or ranking.default_role,
    )
    (reasons,) = ranking.explain([item], request, tool_reasons=ctx.candidates.reasons)
    if not role:
        reasons = [r for r in reasons if r.kind not in ("model", "popularity")]
    return reasons
