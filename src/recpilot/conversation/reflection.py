"""Reflection: the dialogue state's critiques as a change of the ranking's estimate.

Rejected items and items outside the critiques' numeric bounds are dropped; the remaining scores are
scaled to ``[0, 1]``, then attribute weights ("less violent") and anchor items (rejected: negative,
"more like X": positive) move them, anchors in proportion to each item's similarity to the anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.conversation.feed import target_mask
from recpilot.memory.dialogue import DialogueState
from recpilot.memory.feed_rules import AttributeTarget
from recpilot.ranking.adjusters import RankingContext
from recpilot.types import ItemId

#: Score added per unit of attribute weight, and per unit of anchor weight times similarity.
ATTRIBUTE_STEP = 0.6
ANCHOR_STEP = 1.0
#: The numeric attribute every catalog has: distinct users per item.
POPULARITY = "popularity"


def critique_adjuster(state: DialogueState) -> CritiqueAdjuster:
    """The state's estimate as a score adjuster for :class:`~recpilot.ranking.ScoreAdjuster`.

    Drops rejected items and items outside the numeric bounds, scales the remaining scores to
    ``[0, 1]``, then adds ``ATTRIBUTE_STEP * weight`` per matching attribute and
    ``ANCHOR_STEP * weight * similarity`` per anchor item. The state is read when the adjuster runs,
    so critiques recorded earlier in the same turn count.
    """
    return CritiqueAdjuster(state)


@dataclass
class CritiqueAdjuster:
    """Callable form of :func:`critique_adjuster` (see there)."""

    state: DialogueState

    @property
    def only_drops(self) -> bool:
        """True while the state holds no weights: the adjuster then only drops items (rejected ones, those
        outside numeric bounds) and re-scales the rest monotonically, so it never lifts one over another.
        The ranking tool then scores a widening head of the ranking instead of the whole catalog."""
        state = self.state
        return not (state.attribute_weights or state.item_weights)

    def __call__(self, ctx: RankingContext, scores: dict[ItemId, float]) -> dict[ItemId, float]:
        """Adjust ``scores`` (item id -> score) by the state's critiques."""
        state = self.state
        rejected = set(state.rejected_items)
        ids = [i for i in scores if str(i) not in rejected]
        if not ids or not (state.attribute_weights or state.item_weights or state.numeric_bounds):
            return {i: scores[i] for i in ids}
        catalog = ctx.catalog
        dataset = catalog.dataset
        index = dataset.items.to_internal([catalog.coerce_item_id(i) for i in ids], strict=False)
        keep = index >= 0
        for name, (low, high) in state.numeric_bounds.items():
            values = _numeric_values(ctx, name)
            if values is None:
                continue
            column = np.full(len(ids), np.nan)
            column[keep] = values[index[keep]]
            inside = ~np.isnan(column)
            if low is not None:
                inside &= column >= low
            if high is not None:
                inside &= column <= high
            keep &= inside
        ids = [i for i, k in zip(ids, keep.tolist(), strict=True) if k]
        index = index[keep]
        raw = np.asarray([scores[i] for i in ids], dtype=np.float64)
        if len(raw) == 0:
            return {}
        span = raw.max() - raw.min()
        adjusted = (raw - raw.min()) / span if span > 0 else np.ones_like(raw)
        for attribute, weight in state.attribute_weights.items():
            name, _, value = attribute.partition("=")
            hits = target_mask(AttributeTarget(attribute=name, value=value), dataset)[index]
            adjusted += ATTRIBUTE_STEP * weight * hits
        for anchor, weight in state.item_weights.items():
            similarity = _similarity(ctx, anchor, ids)
            if similarity is not None:
                adjusted += ANCHOR_STEP * weight * similarity
        return {i: float(s) for i, s in zip(ids, adjusted.tolist(), strict=True)}


def _similarity(ctx: RankingContext, anchor: str, ids: list[ItemId]) -> npt.NDArray[np.float64] | None:
    """Similarity of ``ids`` to ``anchor`` in [0, 1]: the mean of the content and the collaborative
    model's scores for a history of just the anchor, each min-max scaled; None without either model."""
    if not ctx.catalog.has_item(anchor):
        return None
    reference = ctx.catalog.coerce_item_id(anchor)
    parts: list[npt.NDArray[np.float64]] = []
    for role in ("content", "collaborative"):
        model = ctx.models.get(role)
        if model is None:
            continue
        scores = np.asarray(model.score(ids, history=[reference]), dtype=np.float64)
        scores = np.where(np.isfinite(scores), scores, 0.0)
        span = scores.max() - scores.min() if len(scores) else 0.0
        parts.append((scores - scores.min()) / span if span > 0 else np.zeros_like(scores))
    return np.mean(parts, axis=0) if parts else None


def _numeric_values(ctx: RankingContext, name: str) -> npt.NDArray[np.float64] | None:
    if name == POPULARITY:
        return np.asarray(ctx.catalog.popularity, dtype=np.float64)
    frame = ctx.catalog.dataset.catalog
    if name not in frame.columns:
        return None
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def reference_value(ctx: RankingContext, name: str, items: list[str]) -> float | None:
    """The median of a numeric attribute over ``items`` (the list shown, or the one item named)."""
    values = _numeric_values(ctx, name)
    if values is None or not items:
        return None
    index = ctx.catalog.dataset.items.to_internal(
        [ctx.catalog.coerce_item_id(i) for i in items], strict=False
    )
    picked = values[index[index >= 0]]
    picked = picked[~np.isnan(picked)]
    return float(np.median(picked)) if len(picked) else None
