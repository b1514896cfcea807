"""Evidence-based reasons for each recommended item: constraints matched, similar items, history, model."""

from __future__ import annotations

from typing import Any

import numpy as np

from recpilot.agent.types import HardConstraints, ItemId, Reason
from recpilot.tools.context import ToolContext, as_list

_MODEL_WORDS = {
    "collaborative": "people with similar taste rated it highly",
    "sequential": "it fits what you watched most recently",
    "content": "its content matches what you asked for",
    "popularity": "it is among the most popular",
    "top_rated": "it is among the best rated",
}


def explain(ctx: ToolContext, item: ItemId, constraints: HardConstraints) -> list[Reason]:
    """Reasons for one grounded item, each tied to evidence."""
    catalog = ctx.catalog
    row = catalog.row(item)
    reasons: list[Reason] = []
    for name, accepted in constraints.attributes.items():
        have = [v for v in as_list(row.get(name)) if str(v).lower() in {a.lower() for a in accepted}]
        if have:
            reasons.append(
                Reason(
                    kind="constraint",
                    text=f"{name}: {', '.join(map(str, have))}",
                    evidence={"attribute": name, "values": have},
                )
            )
    for name, rng in constraints.numeric.items():
        value = row.get(name)
        if value is not None:
            bounds = f"{_fmt(rng.min) or '…'}–{_fmt(rng.max) or '…'}"
            reasons.append(
                Reason(
                    kind="constraint",
                    text=f"{name} {value} (asked {bounds})",
                    evidence={"attribute": name, "value": value},
                )
            )
    for name, rejected in constraints.exclude_attributes.items():
        reasons.append(
            Reason(
                kind="constraint",
                text=f"no {name} {', '.join(rejected)}",
                evidence={"attribute": name, "excluded": rejected},
            )
        )
    reasons.extend(ctx.candidates.reasons.get(item, [])[:1])
    anchor = _closest_history_item(ctx, item)
    if anchor is not None:
        reasons.append(
            Reason(kind="history", text=f"you liked {catalog.title(anchor)}", evidence={"item_id": anchor})
        )
    ranked_by = ctx.candidates.ranked_by
    if ranked_by:
        text = _MODEL_WORDS.get(ranked_by, f"ranked by {ranked_by}")
        model = ctx.models.get(ranked_by)
        evidence: dict[str, Any] = {
            "model": model.name if model is not None else ranked_by,
            "role": ranked_by,
        }
        if ranked_by == "top_rated":
            evidence["rating_score"] = round(float(catalog.rating_score[catalog.index(item)]), 2)
        reasons.append(Reason(kind="model", text=text, evidence=evidence))
    return reasons


def _closest_history_item(ctx: ToolContext, item: ItemId) -> ItemId | None:
    """The history item most similar to ``item`` under the collaborative model (if the user has history)."""
    model = ctx.models.get("collaborative")
    if model is None:
        return None
    history: list[ItemId] = list(ctx.liked_items())
    if ctx.dataset_user is not None:
        data = ctx.catalog.dataset
        sequence = data.user_sequence(data.users.index_of(ctx.dataset_user))[-200:]
        ratings = data.matrix("rating")[data.users.index_of(ctx.dataset_user)]
        liked = set(ratings.indices[ratings.data >= np.median(ratings.data)]) if ratings.nnz else set()
        history.extend(data.items.to_external([i for i in sequence if i in liked]).tolist())
    history = [h for h in dict.fromkeys(history) if str(h) != str(item)]
    if not history:
        return None
    scores = model.score(history, history=[item])
    best = int(np.argmax(scores))
    return history[best] if np.isfinite(scores[best]) and scores[best] > 0 else None


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
