"""Discovery tools usable by any brain: free-text matching and the seen-items filter.

:func:`match_description` serves vague requests ("something uplifting about friendship") with the
content model's text similarity (TF-IDF, or MiniLM sentence embeddings when the content model was
fitted with ``encoder="minilm"``); :func:`exclude_seen` keeps rankings that do not filter history
themselves (top rated, popularity) from returning what the user has already seen.
"""

from __future__ import annotations

import numpy as np

from recpilot.errors import ConfigError
from recpilot.tools.context import ToolContext
from recpilot.tools.dispatcher import ToolOutput, ToolSpec, tool
from recpilot.types import ItemId, Reason

MAX_DESCRIPTION_CHARS = 500
_PREVIEW = 5


@tool()
def match_description(
    ctx: ToolContext,
    text: str,
    k: int = 100,
    min_keep: int = 0,
    floor: float = 0.3,
    label: str | None = None,
) -> ToolOutput:
    """Score candidates by how well their content matches a free-text description; keep the best matches.

    Args:
        text: The description, e.g. "uplifting story about friendship" (at most 500 characters are used).
        k: The most matching candidates to keep (1 to 1000).
        min_keep: Keep at least this many candidates, filling up with the next best ones (0 keeps
            matches only, so nothing remains when nothing matches).
        floor: A match needs at least this fraction of the best candidate's similarity (0 to 1), so
            items sharing one common word ("time") do not count when others match the whole text;
            when even the best candidate is that far below the catalog's best match, none counts.
        label: How to name the description in explanations (defaults to the text).
    """
    model = ctx.models.get("content")
    score_text = getattr(model, "score_text", None)
    if model is None or score_text is None:
        raise ConfigError(
            f"match_description needs a content model (role 'content') with text similarity; loaded roles: "
            f"{sorted(ctx.models)}"
        )
    words = text.strip()[:MAX_DESCRIPTION_CHARS]
    if not words:
        raise ConfigError("match_description needs a non-empty text")
    k = max(1, min(k, 1000))
    catalog = ctx.catalog
    similarity = np.asarray(score_text(words), dtype=np.float64)
    item_map = model.item_map
    pool = ctx.candidates.ids
    if pool is None:
        index = np.arange(len(similarity))
    else:
        index = item_map.to_internal(pool, strict=False)
        index = index[index >= 0]
    values = similarity[index]
    # External ids from the id map already have the catalog's type (no per-id coercion needed).
    ids: list[ItemId] = item_map.to_external(index).tolist()
    popularity = catalog.popularity[catalog.dataset.items.to_internal(ids)] if ids else np.zeros(0)
    # Best match first; among equal matches (often zero) the better known item.
    floor = float(np.clip(floor, 0.0, 1.0))
    best = float(values.max()) if len(values) else 0.0
    catalog_best = float(similarity.max()) if len(similarity) else 0.0
    matched = (
        int((values >= max(best * floor, 1e-9)).sum()) if best > floor * catalog_best and best > 0 else 0
    )
    keep = max(min(matched, k), min(max(min_keep, 0), k))
    order = np.lexsort((-popularity, -values))[:keep]
    kept = [ids[i] for i in order]
    ctx.candidates.restrict(kept)
    top = best if best > 0 else 1.0
    ctx.candidates.scores = {ids[i]: max(float(values[i]), 0.0) / top for i in order}
    reason_text = f"matches “{(label or words)[:60]}”"
    for i in order[:matched]:
        if values[i] > 0:
            evidence = {"similarity": round(float(values[i]), 3), "text": words[:100]}
            ctx.candidates.add_reason(ids[i], Reason(kind="text_match", text=reason_text, evidence=evidence))
    preview = [catalog.title(i) for i in kept[:_PREVIEW]]
    return ToolOutput(
        summary=f"{matched} items match the description; kept {len(kept)}: {', '.join(preview)}",
        data={"matched": matched, "count": len(kept), "preview": preview},
    )


@tool()
def exclude_seen(ctx: ToolContext) -> ToolOutput:
    """Drop items the user has already rated, or told us they like or dislike, from the candidates."""
    catalog = ctx.catalog
    seen: set[ItemId] = set()
    if ctx.dataset_user is not None:
        data = catalog.dataset
        history = data.user_sequence(data.users.index_of(ctx.dataset_user))
        seen.update(data.items.to_external(history).tolist())
    seen.update(ctx.liked_items())
    seen.update(ctx.disliked_items())
    if not seen:
        return ToolOutput(summary="the user has no history; nothing dropped", data={"dropped": 0})
    pool = ctx.candidates.ids
    if pool is None:
        pool = catalog.dataset.items.external_ids.tolist()
    kept = [item for item in pool if item not in seen]
    ctx.candidates.restrict(kept)
    dropped = len(pool) - len(kept)
    return ToolOutput(
        summary=f"dropped {dropped} items the user has seen; {len(kept)} remain", data={"dropped": dropped}
    )


#: Registered with the standard tools in :data:`recpilot.tools.RECOMMENDER_TOOLS`.
DISCOVERY_TOOLS: tuple[ToolSpec, ...] = (match_description, exclude_seen)
