"""``recommend`` and ``explain`` of the service: its requests and responses over the one ranking
pipeline (:class:`recpilot.ranking.Ranking`).

The pipeline ranks, filters (constraints, exclusions, dislikes, feed rules) and explains; this module
turns a :class:`~recpilot.service.schemas.RecommendRequest` and the user's remembered likes, dislikes
and feed rules into a :class:`~recpilot.ranking.RankingRequest`, and the ranked
:class:`~recpilot.types.ItemList` into response items with their catalog fields. Each history's best
items are cached as a ranked prefix inside the pipeline, so a request usually filters a cached list
instead of ranking the whole catalog; the answer is the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from recpilot.conversation.feed import feed_adjuster
from recpilot.errors import ConfigError
from recpilot.memory.base import UserProfile
from recpilot.memory.feed_rules import FeedRule
from recpilot.models.base import Recommender
from recpilot.ranking import Ranking, RankingRequest, explanation, ids_as_text, likes_of
from recpilot.ranking.catalog import Catalog, plain_value
from recpilot.service.errors import InvalidRequestError, NotFoundError
from recpilot.service.schemas import ExplanationOut, ItemOut, RecommendRequest, RecommendResponse
from recpilot.types import HardConstraints, ItemId, ItemList

_HIDDEN = ("item_id", "title", "text")


class Recommendations:
    """Ranks, filters and explains items for :meth:`RecommenderService.recommend`.

    Args:
        catalog: The catalog (dataset + store).
        models: Fitted models by role; ``collaborative`` ranks by default when present, else the first.
        cache_size: Ranked prefixes kept (one per history and model); 0 ranks every request in full.
    """

    def __init__(
        self, catalog: Catalog, models: dict[str, Recommender[Any]], *, cache_size: int = 4096
    ) -> None:
        if not models:
            raise ConfigError("the service needs at least one fitted model to recommend")
        self.catalog = catalog
        self.models = models
        self.ranking = Ranking(catalog, models, cache_size=cache_size)
        self.role = self.ranking.default_role
        self.model = models[self.role]

    @property
    def roles(self) -> list[str]:
        """The rankings a request may name: the loaded models' roles and the catalog rankings."""
        return self.ranking.roles

    def attributes(self, index: int) -> dict[str, Any]:
        """The displayable catalog fields of the item at internal ``index``."""
        return self._attributes[index]

    @cached_property
    def _attributes(self) -> list[dict[str, Any]]:
        # Read once: the hot path builds response items from these plain dicts.
        return [
            {
                k: v
                for k, v in ((k, plain_value(v)) for k, v in row.items())
                if k not in _HIDDEN and v not in (None, [], "")
            }
            for row in self.catalog.dataset.catalog.to_dict("records")
        ]

    def recommend(
        self,
        request: RecommendRequest,
        max_k: int,
        *,
        profile: UserProfile | None = None,
        rules: Sequence[FeedRule] = (),
        now: float | None = None,
    ) -> RecommendResponse:
        """Top-k items for the request's user (dataset history and ``profile`` likes) or history.

        Args:
            request: The request.
            max_k: The server's limit on ``k``.
            profile: What the tenant's memory holds about ``request.user_id`` (likes, dislikes).
            rules: The user's feed rules (expired ones are ignored at ``now``).
            now: Unix time preferences and rules are judged at (default: now).

        Raises:
            InvalidRequestError: ``k`` is over the limit, history ids are unknown, the ranking is
                unknown, or a constraint names an unknown attribute.
        """
        if request.k > max_k:
            raise InvalidRequestError(f"k={request.k} is over this server's limit of {max_k}")
        now = time.time() if now is None else now
        liked, disliked = likes_of(profile, now)
        active = [rule for rule in rules if rule.active(now)]
        try:
            ranked = self.ranking.rank(
                RankingRequest(
                    user_id=request.user_id,
                    history=ids_as_text(request.history or []),
                    liked=liked,
                    disliked=disliked,
                    k=request.k,
                    exclude=ids_as_text(request.exclude),
                    constraints=request.constraints or HardConstraints(),
                    model=request.model or self.role,
                    explain=request.explain,
                ),
                adjusters=[feed_adjuster(active, now=now)] if active else [],
            )
        except ConfigError as exc:
            raise InvalidRequestError(str(exc)) from None
        return RecommendResponse(items=self.items(ranked), model=ranked.model, user_id=request.user_id)

    def items(self, ranked: ItemList) -> list[ItemOut]:
        """The ranked items as response items with their catalog fields and reasons."""
        catalog = self.catalog
        reasons = ranked.reasons or tuple(() for _ in range(len(ranked)))
        out: list[ItemOut] = []
        for entry, why in zip(ranked, reasons, strict=True):
            position = catalog.position(entry.item_id)
            assert position is not None  # the pipeline returns catalog items only
            # Built from the catalog's own rows, so pydantic's validation is skipped on this hot path.
            out.append(
                ItemOut.model_construct(
                    item_id=str(entry.item_id),
                    title=catalog.title(entry.item_id),  # type: ignore[arg-type]
                    score=round(entry.score, 6),
                    attributes=self.attributes(position),
                    explanation=explanation(why),
                    reasons=list(why),
                )
            )
        return out

    def explain(
        self, user_id: str, item_id: ItemId, profile: UserProfile | None, now: float | None = None
    ) -> ExplanationOut:
        """Why ``item_id`` suits the user: their dataset history and ``profile`` likes, and the ranking.

        Raises:
            NotFoundError: The item is not in the catalog.
        """
        if not self.catalog.has_item(item_id):
            raise NotFoundError(f"item {item_id!r} is not in the catalog")
        liked, _ = likes_of(profile, time.time() if now is None else now)
        item = self.catalog.coerce_item_id(item_id)
        (reasons,) = self.ranking.explain(
            [item], RankingRequest(user_id=user_id, liked=liked, model=self.role)
        )
        return ExplanationOut(
            user_id=user_id,
            item_id=str(item),
            title=self.catalog.title(item),
            explanation=explanation(reasons),
            reasons=reasons,
        )
