"""The tools the MCP server adds to the agent's (one-shot ``recommend`` and ``explain``), and the
dispatcher every MCP call goes through.

Both call the service layer (:class:`~recpilot.service.recommend.Recommendations`) over the one ranking
pipeline (:class:`recpilot.ranking.Ranking`) behind ``POST /v1/recommend``, the agent's ranking tool and
``recpilot recommend``, so the same request gets the same items and reasons everywhere.

Both are ordinary recpilot tools (typed functions over a :class:`~recpilot.tools.ToolContext`), so they
pass the same :class:`~recpilot.tools.ToolDispatcher` as the agent's own tools: argument validation,
the privilege policy, timing and logging happen in one place for every MCP call.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recpilot.agent.agent import DEFAULT_TOOLS
from recpilot.agent.types import HardConstraints, Reason
from recpilot.errors import ConfigError
from recpilot.service.recommend import Recommendations
from recpilot.service.schemas import RecommendRequest
from recpilot.tools import ToolContext, ToolDispatcher, ToolOutput, ToolPolicy, ToolSpec, tool
from recpilot.tools.context import Catalog
from recpilot.tools.recommender_tools import RankingModel

if TYPE_CHECKING:
    from recpilot.service import RecommenderService

MAX_K = 100


def mcp_dispatcher(
    tools: Iterable[ToolSpec] = DEFAULT_TOOLS, policy: ToolPolicy | None = None
) -> ToolDispatcher:
    """The dispatcher MCP calls go through: an agent's tools and policy, plus ``recommend`` and ``explain``.

    The MCP server lists this dispatcher's tools with their own argument schemas, so a tool added to
    the agent's set is served without touching the server; to serve a particular agent's tools pass its
    ``dispatcher.specs`` and ``dispatcher.policy``.

    Args:
        tools: The agent's tools (default: :data:`recpilot.agent.agent.DEFAULT_TOOLS`).
        policy: The agent's policy (default: the dispatcher's, :func:`recpilot.safety.default_policy`).
    """
    own = tuple(tools)
    names = {spec.name for spec in own}
    specs = (*(spec for spec in SERVICE_TOOLS if spec.name not in names), *own)
    return ToolDispatcher(specs, policy) if policy is not None else ToolDispatcher(specs)


def service_dispatcher(service: RecommenderService) -> ToolDispatcher:
    """:func:`mcp_dispatcher` for the agent ``service`` serves: the tools and policy of the agent its
    agent factory makes (custom tools included) under the service's policy."""
    agent = service.agent_factory(service.runtime, service.policy).dispatcher
    return mcp_dispatcher(agent.specs, agent.policy)


@dataclass
class ServiceToolContext(ToolContext):
    """A tool context that also carries the service's ranking, so MCP answers what HTTP answers.

    Attributes:
        recommendations: The service's :class:`~recpilot.service.recommend.Recommendations` (its
            cache shared with the HTTP API when both are served together).
    """

    recommendations: Recommendations | None = None


_SHARED: weakref.WeakKeyDictionary[Catalog, Recommendations] = weakref.WeakKeyDictionary()


def recommendations_for(ctx: ToolContext) -> Recommendations:
    """The ranking a call uses: the service's when the server has one, else one per catalog."""
    if isinstance(ctx, ServiceToolContext) and ctx.recommendations is not None:
        return ctx.recommendations
    found = _SHARED.get(ctx.catalog)
    if found is None:
        found = _SHARED[ctx.catalog] = Recommendations(ctx.catalog, dict(ctx.models))
    return found


@tool()
def recommend(
    ctx: ToolContext,
    user_id: str | None = None,
    history: list[str] | None = None,
    k: int = 10,
    constraints: HardConstraints | None = None,
    exclude: list[str] | None = None,
    model: RankingModel = "collaborative",
) -> ToolOutput:
    """Recommend catalog items for a user or an ad-hoc history, each with its evidence-based explanation.

    The same ranking as ``POST /v1/recommend``: the user's own history, remembered likes and
    dislikes and active feed rules apply.

    Args:
        user_id: A user id; a user the models have not seen gets their remembered likes or popular items.
        history: Item ids or titles the user liked, oldest first (added to the user's own history).
        k: How many items (1 to 100).
        constraints: Hard constraints every item must satisfy: attributes such as
            {"genres": ["Comedy"]}, exclude_attributes, numeric ranges such as {"year": {"min": 1990}},
            exclude_items, keywords.
        exclude: Item ids never to return.
        model: The ranking model: collaborative, sequential, content, popularity or top_rated.
    """
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be between 1 and {MAX_K}, got {k}")
    refs: list[str] = []
    for reference in history or []:
        found = ctx.catalog.resolve(reference)
        if not found:
            raise ConfigError(f"history item {reference!r} is not in the catalog")
        refs.append(str(found[0]))
    request = RecommendRequest(
        user_id=ctx.user_id,
        history=refs or None,
        k=k,
        constraints=constraints,
        exclude=list(exclude or []),
        model=model,
    )
    memory = ctx.memory
    answer = recommendations_for(ctx).recommend(
        request, MAX_K, profile=memory.profile(ctx.user_id), rules=memory.feed_rules(ctx.user_id)
    )
    items = [item.model_dump(mode="json") for item in answer.items]
    titles = ", ".join(str(entry["title"]) for entry in items[:5])
    return ToolOutput(
        summary=f"{len(items)} items ranked by {answer.model}"
        + (f": {titles}" if titles else "; nothing satisfies the constraints"),
        data={"user_id": ctx.user_id, "model": answer.model, "items": items},
    )


@tool()
def explain(ctx: ToolContext, user_id: str, item: str) -> ToolOutput:
    """Explain why an item suits a user: the user's history it resembles, and how the model ranks it.

    Args:
        user_id: The user.
        item: The item's id or title.
    """
    found = ctx.catalog.resolve(item)
    if not found:
        raise ConfigError(f"item {item!r} is not in the catalog; pass an id or a title from search_catalog")
    item_id = found[0]
    recommendations = recommendations_for(ctx)
    answer = recommendations.explain(ctx.user_id, item_id, ctx.memory.profile(ctx.user_id))
    reasons = list(answer.reasons)
    seen = {str(i) for i in ctx.seen_items()}
    data: dict[str, Any] = {
        "user_id": ctx.user_id,
        "item_id": str(item_id),
        "title": answer.title,
        "already_seen": str(item_id) in seen,
    }
    model = recommendations.model
    history = ctx.liked_items() if ctx.dataset_user is None else None
    scores = model.score(list(model.item_map.external_ids), ctx.dataset_user, history=history)
    position = int((scores > scores[model.item_map.index_of(item_id)]).sum()) + 1
    data.update(rank=position, n_items=len(scores), model=model.name)
    reasons.append(
        Reason(
            kind="model",
            text=f"{model.name} ranks it #{position} of {len(scores)} for this user",
            evidence={"rank": position, "model": model.name},
        )
    )
    data["reasons"] = [r.model_dump(mode="json") for r in reasons]
    explanation = "; ".join(r.text for r in reasons) or "no evidence links this item to the user"
    data["explanation"] = explanation
    return ToolOutput(summary=f"{data['title']}: {explanation}", data=data)


#: The tools the MCP server offers beyond the agent's own.
SERVICE_TOOLS: tuple[ToolSpec, ...] = (recommend, explain)
