"""The ``recommend`` hot path: rank, filter (constraints, exclusions, dislikes, feed rules), explain.

Ranking a known history once costs a product with the whole item-item matrix, so each history's best
items are cached as a :class:`~recpilot.service.caching.RankedPrefix` and filtered per request; a
request whose filters leave fewer than ``k`` of them, or that carries a ``boost`` feed rule (which
rescales the whole ranking), ranks the full catalog instead. Either way the answer is the first ``k``
items of the filtered full ranking in one canonical order (score, then catalog position), which the
service's tests check against an uncached instance. Catalog rows are read into plain dicts once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from recpilot.conversation.feed import apply_feed_rules
from recpilot.errors import ConfigError
from recpilot.memory.base import UserProfile
from recpilot.memory.feed_rules import FeedRule
from recpilot.models.base import Recommender
from recpilot.service.caching import PREFIX, LruCache, RankedPrefix, canonical_order
from recpilot.service.errors import InvalidRequestError, NotFoundError
from recpilot.service.explanations import CATALOG_RANKINGS, Explainer
from recpilot.service.schemas import ExplanationOut, RecommendRequest, RecommendResponse
from recpilot.store import CatalogQuery
from recpilot.tools.context import Catalog
from recpilot.types import HardConstraints, ItemId

Scores = npt.NDArray[np.float32]


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
        self.role = "collaborative" if "collaborative" in models else next(iter(models))
        self.model = models[self.role]
        data = catalog.dataset
        self._n = data.n_items
        self._ids: list[ItemId] = data.items.external_ids.tolist()
        self.explainer = Explainer(catalog, models, self.role)
        # Catalog position of each model item (models are fitted on this dataset, usually the identity).
        self._positions = {role: self._catalog_positions(model) for role, model in models.items()}
        self.prefixes: LruCache[tuple[object, ...], RankedPrefix] = LruCache(cache_size)
        self._histories: LruCache[object, list[ItemId]] = LruCache(cache_size)
        self._pools: LruCache[str, npt.NDArray[np.bool_]] = LruCache(256 if cache_size else 0)

    def _catalog_positions(self, model: Recommender[Any]) -> npt.NDArray[np.int64] | None:
        """Catalog position of each model item; None when the model's items are the catalog's."""
        own = model.item_map.external_ids
        if len(own) == self._n and bool((own == self.catalog.dataset.items.external_ids).all()):
            return None
        return self.catalog.dataset.items.to_internal(own.tolist())

    @property
    def roles(self) -> list[str]:
        """The rankings a request may name: the loaded models' roles and the catalog rankings."""
        return [*self.models, *CATALOG_RANKINGS]

    def attributes(self, index: int) -> dict[str, Any]:
        """The displayable catalog fields of the item at internal ``index``."""
        return self.explainer.attributes(index)

    def dataset_user(self, user_id: str) -> object | None:
        """The user's id in the training data, or None for a user the models have not seen."""
        users = self.catalog.dataset.users
        key: object = user_id
        if users.external_ids.dtype.kind in "iu":
            try:
                key = int(user_id)
            except ValueError:
                return None
        return key if key in users else None

    def dataset_history(self, dataset_user: object) -> list[ItemId]:
        """The item ids a dataset user interacted with, oldest first."""
        data = self.catalog.dataset
        return list(data.items.to_external(data.user_sequence(data.users.index_of(dataset_user))).tolist())

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
        role = request.model or self.role
        if role not in self.roles:
            raise InvalidRequestError(f"model: unknown ranking {role!r}; this server has {self.roles}")
        now = time.time() if now is None else now
        catalog = self.catalog
        liked, disliked = _likes(catalog, profile, now)
        given = self._known(request.history or [])
        dataset_user = self.dataset_user(request.user_id) if request.user_id is not None else None
        constraints = request.constraints or HardConstraints()
        pool = self._pool(constraints)
        ranked_by = role if role in CATALOG_RANKINGS else self.models[role].name
        if pool is not None and not pool.any():
            return RecommendResponse(items=[], model=ranked_by, user_id=request.user_id)
        history: list[ItemId] = []
        if dataset_user is not None:
            history = self._histories.get_or_make(dataset_user, lambda: self.dataset_history(dataset_user))
        if dataset_user is not None and not given and not liked:
            key: tuple[object, ...] = (role, "user", dataset_user)
            scorer = self._scorer(role, dataset_user, None)
        else:
            history = list(dict.fromkeys([*history, *given, *liked]))
            key = (role, "history", tuple(history))
            scorer = self._scorer(role, None, history)
        blocked = _positions(catalog, [*request.exclude, *disliked, *constraints.exclude_items])
        active = [rule for rule in rules if rule.active(now)]
        picked: list[tuple[int, float]] | None = None
        prefix: RankedPrefix | None = None
        if self.prefixes.size and not any(rule.effect == "boost" for rule in active):
            prefix = self.prefixes.get_or_make(key, lambda: self._prefix(scorer, history))
            picked = self._from_prefix(prefix, request.k, blocked, pool, active, now)
        if picked is None:
            picked = self._full(scorer(), history, request.k, blocked, pool, active, now)
        items = self.explainer.items(picked, history, constraints, prefix, role, explain=request.explain)
        return RecommendResponse(items=items, model=ranked_by, user_id=request.user_id)

    def explain(
        self, user_id: str, item_id: ItemId, profile: UserProfile | None, now: float | None = None
    ) -> ExplanationOut:
        """Why ``item_id`` suits the user: their dataset history and ``profile`` likes, and the ranking.

        Raises:
            NotFoundError: The item is not in the catalog.
        """
        if not self.catalog.has_item(item_id):
            raise NotFoundError(f"item {item_id!r} is not in the catalog")
        liked, _ = _likes(self.catalog, profile, time.time() if now is None else now)
        known = self.dataset_user(user_id)
        history = [*(self.dataset_history(known) if known is not None else []), *liked]
        return self.explainer.explain(user_id, self.catalog.coerce_item_id(item_id), history)

    # -- ranking ----------------------------------------------------------------------------------------

    def _scorer(self, role: str, user: object | None, history: list[ItemId] | None) -> Callable[[], Scores]:
        """Scores of every catalog item (catalog order) for the user or the history, made on demand."""
        if role in CATALOG_RANKINGS:
            values = self.catalog.popularity if role == "popularity" else self.catalog.rating_score
            return lambda: values.astype(np.float32)
        model, positions = self.models[role], self._positions[role]

        def score() -> Scores:
            # The base class's one-row scorer: score() would first map every catalog id to an index.
            own, _ = model._scores_for_one(user, history)
            if positions is None:
                return own
            scores = np.full(self._n, -np.inf, dtype=np.float32)
            scores[positions] = own
            return scores

        return score

    def _prefix(self, scorer: Callable[[], Scores], history: list[ItemId]) -> RankedPrefix:
        scores = scorer()
        scores[_positions(self.catalog, history)] = -np.inf
        order = canonical_order(scores, PREFIX)
        complete = len(order) == int(np.isfinite(scores).sum())
        return RankedPrefix(items=order, scores=scores[order], complete=complete)

    def _from_prefix(
        self,
        prefix: RankedPrefix,
        k: int,
        blocked: npt.NDArray[np.int64],
        pool: npt.NDArray[np.bool_] | None,
        rules: list[FeedRule],
        now: float,
    ) -> list[tuple[int, float]] | None:
        """The first ``k`` surviving items of the prefix, or None when fewer survive than exist."""
        keep = ~np.isin(prefix.items, blocked)
        if pool is not None:
            keep &= pool[prefix.items]
        picked = self._ruled(prefix.items[keep], prefix.scores[keep], rules, now)
        return picked[:k] if len(picked) >= k or prefix.complete else None

    def _full(
        self,
        scores: Scores,
        history: list[ItemId],
        k: int,
        blocked: npt.NDArray[np.int64],
        pool: npt.NDArray[np.bool_] | None,
        rules: list[FeedRule],
        now: float,
    ) -> list[tuple[int, float]]:
        scores[_positions(self.catalog, history)] = -np.inf
        scores[blocked] = -np.inf
        if pool is not None:
            scores[~pool] = -np.inf
        order = canonical_order(scores, None if rules else k)
        return self._ruled(order, scores[order], rules, now)[:k]

    def _ruled(
        self, items: npt.NDArray[np.int64], scores: Scores, rules: list[FeedRule], now: float
    ) -> list[tuple[int, float]]:
        """The items that the feed rules let through, re-scored and re-sorted by them."""
        if not rules:
            return list(zip(items.tolist(), scores.tolist(), strict=True))
        ids = self._ids
        kept = apply_feed_rules(
            rules,
            [(ids[i], s) for i, s in zip(items.tolist(), scores.tolist(), strict=True)],
            self.catalog.dataset,
            now=now,
        )
        index = self.catalog.dataset.items
        return [(index.index_of(item), score) for item, score in kept]

    def _pool(self, constraints: HardConstraints) -> npt.NDArray[np.bool_] | None:
        """The catalog positions the constraints allow (None: all), cached per distinct constraints."""
        if constraints.is_empty():
            return None
        key = constraints.model_dump_json()
        return self._pools.get_or_make(key, lambda: self._search(constraints))

    def _search(self, constraints: HardConstraints) -> npt.NDArray[np.bool_]:
        try:
            query = CatalogQuery(
                text=constraints.keywords,
                match="any" if constraints.keywords else "all",
                attributes={k: list(v) for k, v in constraints.attributes.items() if v},
                exclude_attributes={k: list(v) for k, v in constraints.exclude_attributes.items() if v},
                numeric={k: (r.min, r.max) for k, r in constraints.numeric.items()},
                limit=self._n,
                order_by="popularity",
            )
            hits = self.catalog.store.search(query)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]) for e in exc.errors()[:3])
            raise InvalidRequestError(f"constraints: {problems}") from None
        except ConfigError as exc:
            raise InvalidRequestError(f"constraints: {exc}") from None
        mask = np.zeros(self._n, dtype=bool)
        mask[_positions(self.catalog, [hit.item_id for hit in hits])] = True
        return mask

    def _known(self, ids: Sequence[ItemId]) -> list[ItemId]:
        catalog = self.catalog
        unknown = [i for i in ids if not catalog.has_item(i)]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5])
            raise InvalidRequestError(
                f"history: unknown item id{'s' if len(unknown) > 1 else ''} {shown}; "
                "ids come from the catalog"
            )
        return [catalog.coerce_item_id(i) for i in ids]


def _likes(catalog: Catalog, profile: UserProfile | None, now: float) -> tuple[list[ItemId], list[ItemId]]:
    """The profile's active liked (catalog items only) and disliked item ids."""
    if profile is None:
        return [], []
    active = [p for p in profile.preferences if p.active(now)]
    liked = [
        catalog.coerce_item_id(p.value) for p in active if p.kind == "like_item" and catalog.has_item(p.value)
    ]
    disliked = [catalog.coerce_item_id(p.value) for p in active if p.kind == "dislike_item"]
    return liked, disliked


def _positions(catalog: Catalog, ids: Sequence[ItemId]) -> npt.NDArray[np.int64]:
    """Catalog positions of the known ids among ``ids`` (unknown ones are ignored)."""
    if not ids:
        return np.empty(0, dtype=np.int64)
    found = catalog.dataset.items.to_internal([catalog.coerce_item_id(i) for i in ids], strict=False)
    return np.asarray(found[found >= 0], dtype=np.int64)
