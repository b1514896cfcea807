"""The agent's tools over the catalog and the recommender models.

Each is a typed function whose signature and docstring are its schema. Tools read and write the turn's
:class:`~recpilot.tools.context.CandidateSet`, so a chain such as search -> similar -> rank passes no
item list through the brain; they return short summaries.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from recpilot.errors import ConfigError
from recpilot.memory.base import Preference, PreferenceKind
from recpilot.ranking import CATALOG_RANKINGS, Ranking, RankingRequest, ids_as_text
from recpilot.store import CatalogQuery
from recpilot.tools.context import ToolContext
from recpilot.tools.discovery_tools import DISCOVERY_TOOLS
from recpilot.tools.dispatcher import ToolOutput, ToolSpec, tool
from recpilot.types import HardConstraints, ItemId, ItemList, NumericRange, Reason

RankingModel = Literal["collaborative", "sequential", "content", "popularity", "top_rated"]
_PREVIEW = 5


@tool()
def search_catalog(
    ctx: ToolContext,
    attributes: dict[str, list[str]] | None = None,
    exclude_attributes: dict[str, list[str]] | None = None,
    numeric: dict[str, NumericRange] | None = None,
    keywords: str | None = None,
    limit: int = 5000,
) -> ToolOutput:
    """Find catalog items that satisfy hard constraints; they become (or narrow) the turn's candidates.

    Args:
        attributes: Attribute -> accepted values; an item needs one of them per attribute,
            e.g. {"genres": ["Comedy"]}.
        exclude_attributes: Attribute -> values an item must not have, e.g. {"genres": ["Horror"]}.
        numeric: Attribute -> inclusive range, e.g. {"year": {"min": 1990, "max": 1999}}.
        keywords: Free-text keywords matched against titles and descriptions.
        limit: The most candidates to keep (1 to 10000).
    """
    wanted = HardConstraints(
        attributes=attributes or {},
        exclude_attributes=exclude_attributes or {},
        numeric=numeric or {},
        keywords=keywords or None,
    )
    query = CatalogQuery(
        text=wanted.keywords,
        match="any" if wanted.keywords else "all",
        attributes={k: list(v) for k, v in wanted.attributes.items() if v},
        exclude_attributes={k: list(v) for k, v in wanted.exclude_attributes.items() if v},
        numeric={k: (r.min, r.max) for k, r in wanted.numeric.items()},
        item_ids=ctx.candidates.ids,
        limit=max(1, min(limit, 10_000)),
        order_by="relevance" if wanted.keywords else "popularity",
    )
    # Positions, not hit records: a search may return thousands of items (ids as the catalog types them).
    positions, scores = ctx.catalog.search(query)
    ids = ctx.catalog.ids_at(positions)
    ctx.candidates.restrict(ids)
    if wanted.keywords:
        # Text relevance is a soft signal for the ranking step; constraints stay hard.
        top = (float(scores.max()) if len(scores) else 0.0) or 1.0
        ctx.candidates.scores = dict(zip(ids, (scores / top).tolist(), strict=True))
    ctx.constraints = ctx.constraints.merged(wanted.model_copy(update={"keywords": None}))
    titles = [ctx.catalog.title(i) for i in ids[:_PREVIEW]]
    preview = ", ".join(titles)
    return ToolOutput(
        summary=f"{len(ids)} items match" + (f", e.g. {preview}" if preview else ""),
        data={"count": len(ids), "preview": titles},
    )


@tool()
def similar_items(
    ctx: ToolContext, items: list[str], k: int = 300, content_weight: float = 0.4
) -> ToolOutput:
    """Score items by similarity to the referenced ones ("like X"); narrows no constraint.

    Args:
        items: Titles or ids of the reference items, e.g. ["Toy Story"].
        k: With no candidates yet, how many of the most similar items become candidates.
        content_weight: Weight of content similarity versus collaborative similarity (0 to 1).
    """
    refs: list[ItemId] = []
    missing: list[str] = []
    for reference in items:
        found = ctx.catalog.resolve(reference)
        (refs.extend(found) if found else missing.append(reference))
    if not refs:
        return ToolOutput(
            summary=f"no catalog item matches {missing}", data={"resolved": [], "missing": missing}
        )
    ctx.referenced.extend(r for r in refs if r not in ctx.referenced)
    weight = float(np.clip(content_weight, 0.0, 1.0))
    roles = [
        (role, role_weight)
        for role, role_weight in (("collaborative", 1.0 - weight), ("content", weight))
        if role in ctx.models and role_weight != 0.0
    ]
    pool = ctx.candidates.ids
    similar = _pool_similarity(ctx, refs, pool, roles) if pool is not None else None
    ranked: list[tuple[ItemId, float]]
    if similar is not None:
        ranked = list(zip(*similar, strict=True))
    else:
        size = len(pool) if pool is not None else max(k, 1) * 3
        blended: dict[ItemId, float] = {}
        for role, role_weight in roles:
            listed = ctx.models[role].recommend(
                history=refs, k=max(1, size), candidates=pool, filter_seen=True
            )
            for item, score in _normalised(listed.ids(), listed.scores).items():
                blended[item] = blended.get(item, 0.0) + role_weight * score
        ranked = sorted(blended.items(), key=lambda kv: -kv[1])
    if pool is None:
        ranked = ranked[:k]
        ctx.candidates.restrict([item for item, _ in ranked])
    ctx.candidates.scores = dict(ranked)
    names = [ctx.catalog.title(r) for r in refs]
    reason = Reason(
        kind="similar_to",
        text=f"similar to {' and '.join(names)}",
        evidence={"items": [str(r) for r in refs]},
    )
    for item, _ in ranked[:100]:
        ctx.candidates.add_reason(item, reason)
    preview = [ctx.catalog.title(item) for item, _ in ranked[:_PREVIEW]]
    return ToolOutput(
        summary=f"scored {len(ranked)} items by similarity to {', '.join(names)}; "
        f"most similar: {', '.join(preview)}" + (f"; not found: {missing}" if missing else ""),
        data={
            "resolved": [str(r) for r in refs],
            "missing": missing,
            "count": len(ranked),
            "preview": preview,
        },
    )


@tool()
def rank_candidates(
    ctx: ToolContext, model: RankingModel = "collaborative", k: int = 10, similarity_weight: float = 0.6
) -> ToolOutput:
    """Rank the current candidates for this user and keep the best k as the answer.

    Args:
        model: collaborative (taste from history), sequential (recent history), content (item text),
            popularity, or top_rated (Bayesian-average rating).
        k: How many items to return (1 to 100).
        similarity_weight: When a similarity or keyword step scored the candidates, its weight against
            the model's score (0 to 1).
    """
    k = max(1, min(k, 100))
    if model not in ctx.models and model not in CATALOG_RANKINGS:
        raise ConfigError(
            f"no {model} model is loaded; available: {sorted(ctx.models)} or popularity/top_rated"
        )
    pool = ctx.candidates.ids
    candidates = None
    if pool is not None:
        soft = ctx.candidates.scores
        candidates = ItemList(
            np.asarray(pool, dtype=object), np.asarray([soft.get(i, np.nan) for i in pool], dtype=np.float32)
        )
    request = RankingRequest(
        user_id=ctx.user_id,
        liked=ids_as_text(ctx.liked_items()),
        disliked=ids_as_text(ctx.disliked_items()),
        k=k,
        exclude=ids_as_text(ctx.referenced),
        constraints=HardConstraints(exclude_items=ctx.constraints.exclude_items),
        model=model,
        # "Most popular" and "best rated" lists may show what the user has seen; personal ones may not.
        exclude_seen=model not in CATALOG_RANKINGS,
        similarity_weight=float(np.clip(similarity_weight, 0.0, 1.0)),
        explain=False,
    )
    ranked = Ranking.of(ctx).rank(request, candidates=candidates, adjusters=ctx.score_adjusters)
    ctx.candidates.ranked = list(zip(ranked.ids(), ranked.scores.tolist(), strict=True))  # type: ignore[arg-type]
    ctx.candidates.ranked_by = model
    titles = [ctx.catalog.title(i) for i, _ in ctx.candidates.ranked]
    considered = len(pool) if pool is not None else ctx.catalog.dataset.n_items
    return ToolOutput(
        summary=f"ranked {considered} candidates with the {model} model; top: {', '.join(titles[:_PREVIEW])}",
        data={
            "items": [
                {"item_id": str(i), "title": t, "score": s}
                for (i, s), t in zip(ctx.candidates.ranked, titles, strict=True)
            ]
        },
    )


@tool()
def item_details(ctx: ToolContext, items: list[str]) -> ToolOutput:
    """Look up catalog facts (title, year, genres, tags...) about items given by title or id.

    Args:
        items: Titles or ids.
    """
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for reference in items[:20]:
        ids = ctx.catalog.resolve(reference)
        if not ids:
            missing.append(reference)
            continue
        row = ctx.catalog.row(ids[0])
        found.append({k: str(v) if k == "item_id" else v for k, v in row.items() if k != "text"})
    lines = [
        f"{r.get('title')}: " + ", ".join(f"{k}={_short(v)}" for k, v in r.items() if k != "title")
        for r in found
    ]
    return ToolOutput(
        summary="; ".join(lines) or f"not found: {missing}", data={"items": found, "missing": missing}
    )


@tool()
def user_profile(ctx: ToolContext) -> ToolOutput:
    """The user's remembered preferences, profile summary and history size."""
    profile = ctx.memory.profile(ctx.user_id)
    history = 0
    if ctx.dataset_user is not None:
        history = len(ctx.catalog.dataset.user_sequence(ctx.catalog.dataset.users.index_of(ctx.dataset_user)))
    prefs = [{"id": p.id, "kind": p.kind, "value": _display(ctx, p)} for p in profile.preferences]
    summary = profile.summary or "no summary yet"
    # The preferences themselves, so a reply to "what do you know about me?" can name them.
    listed = "".join(f"; #{p['id']} {p['kind']} {p['value']}" for p in prefs[:10])
    return ToolOutput(
        summary=f"{len(prefs)} remembered preferences{listed}; {history} items in history; {summary}",
        data={"preferences": prefs, "history_size": history, "summary": profile.summary},
    )


@tool(privilege="write")
def remember_preference(
    ctx: ToolContext, kind: PreferenceKind, value: str, ttl_days: float | None = None
) -> ToolOutput:
    """Remember a preference in the user's long-term profile.

    Args:
        kind: like_item, dislike_item, like_attribute, dislike_attribute or constraint.
        value: An item title or id (item kinds), "attribute=value" such as "genres=Horror" (attribute
            kinds), or a short constraint text.
        ttl_days: Forget it after this many days (None keeps it).
    """
    stored_value = value.strip()
    if not stored_value:
        raise ConfigError("remember_preference needs a non-empty value")
    if kind in ("like_item", "dislike_item"):
        ids = ctx.catalog.resolve(stored_value)
        if not ids:
            raise ConfigError(f"no catalog item matches {value!r}; nothing was remembered")
        stored_value = str(ids[0])
    elif kind in ("like_attribute", "dislike_attribute") and "=" not in stored_value:
        raise ConfigError(f"attribute preferences look like 'genres=Horror', got {value!r}")
    expires = None
    if ttl_days is not None:
        import time

        expires = time.time() + max(ttl_days, 0.0) * 86_400
    pref = ctx.memory.remember(
        ctx.user_id,
        Preference(kind=kind, value=stored_value, expires_at=expires, source=ctx.request.provenance),
    )
    return ToolOutput(summary=f"remembered {kind}: {_display(ctx, pref)}", data={"id": pref.id})


@tool(privilege="write")
def forget_preference(
    ctx: ToolContext, preference_id: int | None = None, value: str | None = None
) -> ToolOutput:
    """Delete a remembered preference by its id, or every preference with the given value.

    Args:
        preference_id: The id shown by user_profile.
        value: A remembered value (item title or id, or "attribute=value").
    """
    if preference_id is None and not value:
        raise ConfigError("forget_preference needs a preference_id or a value")
    removed = 0
    if preference_id is not None:
        removed += int(ctx.memory.forget(ctx.user_id, preference_id))
    if value:
        resolved = ctx.catalog.resolve(value) if "=" not in value else []
        for candidate in {value, *(str(i) for i in resolved)}:
            removed += ctx.memory.forget_matching(ctx.user_id, None, candidate)
    return ToolOutput(summary=f"forgot {removed} preference(s)", data={"removed": removed})


CORE_TOOLS: tuple[ToolSpec, ...] = (
    search_catalog,
    similar_items,
    rank_candidates,
    item_details,
    user_profile,
    remember_preference,
    forget_preference,
)

#: Every tool the agent offers by default.
RECOMMENDER_TOOLS: tuple[ToolSpec, ...] = (*CORE_TOOLS, *DISCOVERY_TOOLS)


def _pool_similarity(
    ctx: ToolContext, refs: list[ItemId], pool: list[ItemId], roles: list[tuple[str, float]]
) -> tuple[list[ItemId], list[float]] | None:
    """:func:`similar_items` over a candidate pool with arrays instead of per-item dicts: each role's
    scores of the pool for the references (themselves dropped), min-max scaled, weighted and summed,
    best first; ties in the order the models list them (score, then index), as the dict path does.

    None when a model indexes items otherwise than the catalog, or a pool id is not in the catalog
    (``model.recommend`` then maps the ids and words the error).
    """
    ranking = Ranking.of(ctx)
    positions = ctx.catalog.positions(pool)
    if len(positions) != len(pool) or not all(ranking.aligned(role) for role, _ in roles):
        return None
    references = ctx.catalog.positions(refs)
    n_items = ctx.catalog.dataset.n_items
    total = np.zeros(n_items)
    listed = np.zeros(n_items, dtype=bool)
    first = np.zeros(n_items, dtype=np.int64)  # where each item first appeared (the dict's order)
    appeared = 0
    for role, role_weight in roles:
        scores = ctx.models[role].score_at(positions, history=refs)  # aligned: index = position
        scores[np.isin(positions, references)] = -np.inf
        finite = np.isfinite(scores)
        order = np.lexsort((positions[finite], -scores[finite]))
        where = positions[finite][order]
        values = scores[finite][order].astype(np.float64)
        if not len(values):
            continue
        low, span = values.min(), values.max() - values.min()
        scaled = (values - low) / span if span > 0 else np.ones_like(values)
        total[where] = total[where] + role_weight * scaled
        new = where[~listed[where]]
        first[new] = appeared + np.arange(len(new))
        appeared += len(new)
        listed[where] = True
    items = np.flatnonzero(listed)
    best = items[np.lexsort((first[items], -total[items]))]
    return ctx.catalog.ids_at(best), total[best].tolist()


def _normalised(ids: list[Any], scores: Any) -> dict[ItemId, float]:
    """Min-max scale to [0, 1] so scores of different models can be blended."""
    values = np.asarray(scores, dtype=np.float64)
    if len(values) == 0:
        return {}
    finite = np.isfinite(values)
    lo, hi = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 0.0)
    span = hi - lo
    scaled = (values - lo) / span if span > 0 else np.ones_like(values)
    return {item: s for item, s, ok in zip(ids, scaled.tolist(), finite.tolist(), strict=True) if ok}


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(str(v) for v in value[:6]) + ("/..." if len(value) > 6 else "")
    return str(value)


def _display(ctx: ToolContext, pref: Preference) -> str:
    if pref.kind in ("like_item", "dislike_item") and ctx.catalog.has_item(pref.value):
        return f"{ctx.catalog.title(pref.value)} (id {pref.value})"
    return pref.value
