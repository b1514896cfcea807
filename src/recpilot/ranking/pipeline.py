"""The one recommend -> filter -> explain pipeline.

:meth:`Ranking.rank` takes a :class:`RankingRequest` (who, how many, what never to show, the hard
constraints, the ranking model) and optionally the turn's candidates as an
:class:`~recpilot.types.ItemList` (soft scores from a similarity or keyword step), and returns an
:class:`~recpilot.types.ItemList` best first, each item with its reasons:

```
candidates   whole catalog, or the given ItemList, narrowed by the constraints (catalog search)
score        the model's scores for the user's history (dataset history + given + liked items),
             or popularity / Bayesian rating; blended with the candidates' soft scores
adjust       history (seen), exclusions, dislikes dropped; then every ScoreAdjuster (feed rules,
             critiques) on the whole ranking, or on a widening head when they only drop items
top-k        canonical order: score, then catalog position
explain      constraint matches, the tool's reason, the closest liked history item, the ranking
```

The agent's ``rank_candidates`` tool, the service (``/v1/recommend`` and MCP ``recommend``) and
``recpilot recommend`` all call it, so the same request gets the same items with the same reasons.
Ids cross this boundary as text; scores are the model's own (min-max scaled only when blended).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recpilot.errors import ConfigError
from recpilot.models.base import Recommender
from recpilot.ranking.adjusters import RankingContext, ScoreAdjuster, only_drops
from recpilot.ranking.cache import PREFIX, LruCache, RankedPrefix, canonical_order
from recpilot.ranking.candidates import CandidatePool
from recpilot.ranking.catalog import Catalog
from recpilot.ranking.evidence import (
    NO_POSITIONS,
    Positions,
    closest_history_items,
    unique_positions,
    well_rated_recent,
)
from recpilot.ranking.request import RankingRequest
from recpilot.ranking.words import (
    CATALOG_RANKINGS,
    constraint_reasons,
    history_reason,
    ranking_reason,
    tool_reason,
)
from recpilot.types import HardConstraints, ItemId, ItemList, Reason


class _Who:
    """The user of a request as the pipeline sees them: dataset user, given and liked items."""

    def __init__(self, user: object | None, own: Positions, given: Positions, liked: Positions) -> None:
        self.user = user
        self.given = given
        self.liked = liked
        self.history: Positions = unique_positions(np.concatenate([own, given, liked]))
        #: Whether the model can rank by the user's own training row (no extra items).
        self.by_user = user is not None and not len(given) and not len(liked)

    @property
    def cold(self) -> bool:
        """No history at all: a personal model ranks by popularity."""
        return not len(self.history)


class Ranking:
    """The ranking pipeline over one catalog and its fitted models.

    Args:
        catalog: The catalog (dataset + store).
        models: Fitted models by role; ``collaborative`` ranks by default when present.
        cache_size: Ranked prefixes kept (one per history and model, see
            :class:`~recpilot.ranking.cache.RankedPrefix`); 0 ranks every request in full.
    """

    def __init__(
        self, catalog: Catalog, models: Mapping[str, Recommender[Any]], *, cache_size: int = 0
    ) -> None:
        self.catalog = catalog
        self.models: Mapping[str, Recommender[Any]] = dict(models)
        self.default_role = "collaborative" if "collaborative" in models else next(iter(models), "popularity")
        data = catalog.dataset
        self._n = data.n_items
        self._ids: npt.NDArray[Any] = data.items.external_ids
        self._id_list: list[ItemId] = self._ids.tolist()
        self._model_positions = {role: self._positions_of(model) for role, model in self.models.items()}
        self.prefixes: LruCache[tuple[object, ...], RankedPrefix] = LruCache(cache_size)
        self.candidates = CandidatePool(catalog, cache_size=256 if cache_size else 0)

    @classmethod
    def of(cls, ctx: RankingContext) -> Ranking:
        """The pipeline for a context's catalog and models (one per catalog and set of models)."""
        found = _SHARED.get(ctx.catalog)
        if found is None or not _same_models(found.models, ctx.models):
            found = _SHARED[ctx.catalog] = cls(ctx.catalog, ctx.models)
        return found

    @property
    def roles(self) -> list[str]:
        """The rankings a request may name: the loaded models' roles and the catalog rankings."""
        return [*self.models, *(r for r in CATALOG_RANKINGS if r not in self.models)]

    def aligned(self, role: str) -> bool:
        """Whether the role's model indexes items exactly as the catalog does (index = position)."""
        return role in self._model_positions and self._model_positions[role] is None

    def model_name(self, role: str) -> str:
        """The name of the model behind a ranking (the role itself for catalog rankings)."""
        model = self.models.get(role)
        return model.name if model is not None else role

    # -- the pipeline -------------------------------------------------------------------------------

    def rank(
        self,
        request: RankingRequest,
        *,
        candidates: ItemList | None = None,
        adjusters: Sequence[ScoreAdjuster] = (),
    ) -> ItemList:
        """The request's top-k items, best first, with their reasons (when ``request.explain``).

        Args:
            request: Who, how many, what to exclude, the constraints and the ranking.
            candidates: The items to rank instead of the whole catalog; finite scores are soft
                scores (similarity, keyword relevance) blended with the model's, NaN means none.
            adjusters: Applied in order to every eligible item's score before the top k are kept.

        Raises:
            ConfigError: Unknown ranking, unknown history ids, or constraints naming an unknown
                attribute.
        """
        role = request.model
        if role not in self.roles:
            raise ConfigError(f"model: unknown ranking {role!r}; available: {self.roles}")
        who = self.who(request)
        pool = self.candidates.pool(request.constraints, candidates)
        hidden = who.history if request.exclude_seen else NO_POSITIONS
        blocked = self.catalog.positions(
            [*request.exclude, *request.disliked, *request.constraints.exclude_items]
        )
        soft = self.candidates.soft(candidates)
        lifts = any(not only_drops(adjust) for adjust in adjusters)
        picked: list[tuple[int, float]] | None = None
        prefix: RankedPrefix | None = None
        if pool is not None and not pool.any():
            picked = []
        elif soft is None and not lifts and self.prefixes.size:
            key = (role, request.exclude_seen, *self._history_key(who))
            prefix = self.prefixes.get_or_make(key, lambda: self._prefix(self._scores(role, who), hidden))
            picked = self._survivors(prefix, request.k, blocked, pool, adjusters)
        if picked is None:
            scores = self._scores(role, who, pool)
            scores[hidden] = -np.inf
            if pool is not None:
                scores[~pool] = -np.inf
            if soft is not None:
                scores = _blend(scores, soft, request.similarity_weight)
            scores[blocked] = -np.inf
            picked = self._top(scores, request.k, adjusters, lifts)
        positions = np.asarray([p for p, _ in picked], dtype=np.int64)
        reasons: tuple[tuple[Reason, ...], ...] = ()
        if request.explain and prefix is not None and candidates is None and not _worded(request.constraints):
            reasons = self._memoised(prefix, positions, who, role)
        elif request.explain:
            given = _tool_reasons(candidates, self._ids[positions]) if candidates is not None else None
            reasons = tuple(tuple(r) for r in self._explain(positions, who, request.constraints, role, given))
        return ItemList(
            self._ids[positions],
            np.asarray([s for _, s in picked], dtype=np.float32),
            self.model_name(role),
            reasons,
        )

    def explain(
        self,
        items: Sequence[ItemId],
        request: RankingRequest,
        *,
        tool_reasons: Mapping[ItemId, Sequence[Reason]] | None = None,
    ) -> list[list[Reason]]:
        """The reasons for ``items`` (catalog ids) recommended for ``request`` (its user, history,
        likes, constraints and ranking); the same reasons :meth:`rank` attaches.

        Args:
            items: The items, each in the catalog.
            request: The request they answer (``k`` and the exclusions are not read).
            tool_reasons: Evidence a tool collected per item (similarity to a named item, a keyword
                match); the first of each item's is worded with the others.
        """
        positions = np.asarray([self._position(i, "item") for i in items], dtype=np.int64)
        given = None
        if tool_reasons is not None:
            given = [list(tool_reasons.get(i, ()))[:1] for i in items]
        return self._explain(positions, self.who(request), request.constraints, request.model, given)

    def who(self, request: RankingRequest) -> _Who:
        """The request's user: dataset user, own history, given and liked items (as positions)."""
        user = self.catalog.dataset_user(request.user_id)
        own = self._dataset_history(user) if user is not None else NO_POSITIONS
        given = np.asarray([self._position(i, "history") for i in request.history], dtype=np.int64)
        return _Who(user, own, given, self.catalog.positions(request.liked))

    # -- scoring ------------------------------------------------------------------------------------

    def _scores(
        self, role: str, who: _Who, pool: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.float64]:
        """Every catalog item's score (catalog order; -inf where the model has no score), or with a
        ``pool`` the pool's scores (-inf elsewhere), which a model may compute for the pool alone."""
        if role in CATALOG_RANKINGS and role not in self.models:
            values = self.catalog.popularity if role == "popularity" else self.catalog.rating_score
            return np.array(values, dtype=np.float64)
        model = self.models[role]
        if pool is not None and self.aligned(role):
            wanted = np.flatnonzero(pool)
            scores = np.full(self._n, -np.inf)
            if who.by_user:
                scores[wanted] = model.score_at(wanted, who.user)
            else:
                scores[wanted] = model.score_at(wanted, history=self._model_history(model, who))
            return scores
        if who.by_user:
            own, _ = model._scores_for_one(who.user, None)
        else:
            own, _ = model._scores_for_one(None, self._model_history(model, who))
        positions = self._model_positions[role]
        if positions is None:
            return own.astype(np.float64)
        scores = np.full(self._n, -np.inf)
        scores[positions] = own
        return scores

    def _model_history(self, model: Recommender[Any], who: _Who) -> list[ItemId]:
        """The user's history items that ``model`` knows (its ad-hoc history)."""
        return [i for i in self._ids[who.history].tolist() if i in model.item_map]

    def _prefix(self, scores: npt.NDArray[np.float64], hidden: Positions) -> RankedPrefix:
        scores[hidden] = -np.inf
        order = canonical_order(scores, PREFIX)
        complete = len(order) == int(np.isfinite(scores).sum())
        return RankedPrefix(items=order, scores=scores[order], complete=complete)

    def _survivors(
        self,
        prefix: RankedPrefix,
        k: int,
        blocked: Positions,
        pool: npt.NDArray[np.bool_] | None,
        adjusters: Sequence[ScoreAdjuster],
    ) -> list[tuple[int, float]] | None:
        """The first ``k`` survivors of a cached prefix; None when fewer survive than the catalog has."""
        keep = ~np.isin(prefix.items, blocked)
        if pool is not None:
            keep &= pool[prefix.items]
        picked = self._adjusted(prefix.items[keep], prefix.scores[keep], adjusters)
        return picked[:k] if len(picked) >= k or prefix.complete else None

    def _top(
        self, scores: npt.NDArray[np.float64], k: int, adjusters: Sequence[ScoreAdjuster], lifts: bool
    ) -> list[tuple[int, float]]:
        """The top ``k`` after the adjusters: all eligible items when one may lift an item, else a head
        of the ranking that widens until ``k`` items survive."""
        if not adjusters:
            order = canonical_order(scores, k)
            return list(zip(order.tolist(), scores[order].tolist(), strict=True))
        eligible = int(np.isfinite(scores).sum())
        need = eligible if lifts else min(max(k * 30, 300), eligible)
        while True:
            order = canonical_order(scores, need if need < eligible else None)
            picked = self._adjusted(order, scores[order], adjusters)
            if len(picked) >= k or need >= eligible:
                return picked[:k]
            need = min(need * 4, eligible)

    def _adjusted(
        self, order: Positions, scores: npt.NDArray[Any], adjusters: Sequence[ScoreAdjuster]
    ) -> list[tuple[int, float]]:
        """Run the adjusters over ``order`` (positions best first) and re-sort what they keep."""
        if not adjusters:
            return list(zip(order.tolist(), scores.tolist(), strict=True))
        ids = self._ids[order].tolist()
        where = dict(zip(ids, order.tolist(), strict=True))
        adjusted: dict[ItemId, float] = dict(zip(ids, scores.tolist(), strict=True))
        for adjust in adjusters:
            adjusted = adjust(self, adjusted)
        ranked = sorted(adjusted.items(), key=lambda kv: -kv[1])
        return [(where[i], s) for i, s in ranked if i in where]

    # -- explanations -------------------------------------------------------------------------------

    def _explain(
        self,
        positions: Positions,
        who: _Who,
        constraints: HardConstraints,
        role: str,
        tool_reasons: Sequence[Sequence[Reason]] | None,
    ) -> list[list[Reason]]:
        anchors = self._anchors(positions, self._anchor_history(who))
        catalog = self.catalog
        out: list[list[Reason]] = []
        for n, position in enumerate(positions.tolist()):
            item = self._id_list[position]
            # Only constraints read the catalog row (a pandas row costs ~0.1 ms: skip it when unused).
            row = catalog.row(item) if constraints.attributes or constraints.numeric else {}
            reasons = constraint_reasons(row, constraints)
            if tool_reasons is not None:
                reasons.extend(tool_reason(r) for r in tool_reasons[n][:1])
            anchor = anchors[n]
            if anchor is not None:
                named = self._id_list[anchor]
                reasons.append(history_reason(named, catalog.title(named)))
            rating = float(catalog.rating_score[position]) if role == "top_rated" else None
            reasons.append(ranking_reason(role, self.model_name(role), cold=who.cold, rating_score=rating))
            out.append(reasons)
        return out

    def _memoised(
        self, prefix: RankedPrefix, positions: Positions, who: _Who, role: str
    ) -> tuple[tuple[Reason, ...], ...]:
        """Reasons that depend only on the prefix's history and ranking, kept with the cached prefix."""
        memo = prefix.explained
        missing = np.asarray([p for p in positions.tolist() if p not in memo], dtype=np.int64)
        if len(missing):
            found = self._explain(missing, who, HardConstraints(), role, None)
            memo.update(zip(missing.tolist(), (tuple(r) for r in found), strict=True))
        return tuple(memo[p] for p in positions.tolist())

    def _anchor_history(self, who: _Who) -> Positions:
        """The items an explanation may name: liked and given items, then the user's recent items
        rated at least at their median."""
        recent = well_rated_recent(self.catalog.dataset, who.user) if who.user is not None else NO_POSITIONS
        return unique_positions(np.concatenate([who.liked, who.given, recent]))

    def _anchors(self, positions: Positions, history: Positions) -> list[int | None]:
        model = self.models.get("collaborative")
        if model is None:
            return [None] * len(positions)
        return closest_history_items(model, self._ids, positions, history)

    # -- ids ----------------------------------------------------------------------------------------

    def _position(self, item: ItemId, what: str) -> int:
        position = self.catalog.position(item)
        if position is None:
            raise ConfigError(f"{what}: unknown item id {str(item)!r}; ids come from the catalog")
        return position

    def _dataset_history(self, user: object) -> Positions:
        data = self.catalog.dataset
        return np.asarray(data.user_sequence(data.users.index_of(user)), dtype=np.int64)

    def _history_key(self, who: _Who) -> tuple[object, ...]:
        return ("user", who.user) if who.by_user else ("history", tuple(who.history.tolist()))

    def _positions_of(self, model: Recommender[Any]) -> Positions | None:
        """Catalog position of each model item; None when the model's items are the catalog's."""
        own = model.item_map.external_ids
        if len(own) == self._n and bool((own == self._ids).all()):
            return None
        return self.catalog.dataset.items.to_internal(own.tolist())


_SHARED: weakref.WeakKeyDictionary[Catalog, Ranking] = weakref.WeakKeyDictionary()


def _same_models(a: Mapping[str, Recommender[Any]], b: Mapping[str, Recommender[Any]]) -> bool:
    return a.keys() == b.keys() and all(a[role] is b[role] for role in a)


def _worded(constraints: HardConstraints) -> bool:
    """Whether the constraints add reasons of their own (matched attributes, ranges, exclusions)."""
    return bool(constraints.attributes or constraints.numeric or constraints.exclude_attributes)


def _blend(
    scores: npt.NDArray[np.float64], soft: npt.NDArray[np.float64], weight: float
) -> npt.NDArray[np.float64]:
    """Min-max scale the finite model scores to [0, 1] and blend them with the soft scores."""
    finite = np.isfinite(scores)
    out = np.full_like(scores, -np.inf)
    if not finite.any():
        return out
    values = scores[finite]
    low, span = values.min(), values.max() - values.min()
    scaled = (values - low) / span if span > 0 else np.ones_like(values)
    out[finite] = weight * soft[finite] + (1.0 - weight) * scaled
    return out


def _tool_reasons(candidates: ItemList, items: npt.NDArray[Any]) -> list[list[Reason]]:
    """The candidates' reasons for ``items`` (aligned), the first of each."""
    if not candidates.reasons:
        return [[] for _ in range(len(items))]
    by_id = {str(i): list(r) for i, r in zip(candidates.ids(), candidates.reasons, strict=True)}
    return [by_id.get(str(i), [])[:1] for i in items.tolist()]
