"""Persistent feed commands: typed, inspectable, time-bounded rules every later recommendation obeys.

"no more horror this week", "show me more documentaries", "stop recommending sequels" and "only movies
after 2000 for today" become :class:`FeedRule` records (parsed by :func:`parse_feed_command`, stored
with :meth:`recpilot.memory.ProfileMemory.add_feed_rule`). :func:`apply_feed_rules` is the one
function that enforces them: the ranking pipeline (through :func:`feed_adjuster`, for the agent's
ranking tool, ``recpilot recommend --user``, MCP and the HTTP API) and the agent's final answer.

Rule semantics:

- ``exclude``: items matching the target are dropped.
- ``require``: items not matching the target are dropped (an item without the attribute, e.g. no
  year, does not match a numeric range).
- ``boost``: scores are min-max scaled to ``[0, 1]`` and every matching boost rule adds ``boost``
  (default :data:`BOOST`), so matching items move up without replacing the ranking.

Targets: ``field=value`` attributes match case-insensitively (any element of a list attribute such as
``genres``); numeric ranges are inclusive; the ``sequel`` title pattern is the heuristic of
:func:`is_sequel_title`.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.conversation.feed_parse import (
    FeedCommand,
    FeedVocabulary,
    RulesRequest,
    parse_duration,
    parse_feed_command,
    parse_rules_request,
)
from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.memory.feed_rules import (
    AttributeTarget,
    FeedEffect,
    FeedRule,
    FeedTarget,
    NumericTarget,
    TitlePatternTarget,
)
from recpilot.ranking.adjusters import RankingContext
from recpilot.ranking.catalog import as_list
from recpilot.types import ItemId, ItemList

__all__ = [
    "BOOST",
    "AttributeTarget",
    "FeedAdjuster",
    "FeedCommand",
    "FeedEffect",
    "FeedRule",
    "FeedTarget",
    "FeedVocabulary",
    "NumericTarget",
    "RulesRequest",
    "TitlePatternTarget",
    "apply_feed_rules",
    "feed_adjuster",
    "is_sequel_title",
    "parse_duration",
    "parse_feed_command",
    "parse_rules_request",
    "target_mask",
]

#: What a matching ``boost`` rule adds to a min-max scaled score.
BOOST = 0.3

_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}(?:[-–]\d{0,4})?\)\s*$")
# A sequel marker after the first word: a digit 2-9, a Roman numeral II-IX, "Part"/"Chapter" + number.
_SEQUEL = re.compile(
    r"(?<=\w)(?:\s|:\s*|\s-\s)(?:[2-9]|II|III|IV|V|VI|VII|VIII|IX)(?=$|\s|:|,)"
    r"|\b(?:part|chapter|episode)\s+(?:[2-9]|ii|iii|iv|v|vi|vii|viii|ix|two|three|four|five)\b",
    re.IGNORECASE,
)
_MASKS: weakref.WeakKeyDictionary[Dataset, dict[str, npt.NDArray[np.bool_]]] = weakref.WeakKeyDictionary()


def is_sequel_title(title: str) -> bool:
    """The documented sequel heuristic: a number 2-9 or a Roman numeral II-IX after the first word, or
    "part/chapter/episode" followed by a number ("Toy Story 2", "Godfather: Part II, The", "Rocky V").

    It misses sequels without a number ("The Empire Strikes Back" alone) and flags a few non-sequels
    with a trailing numeral ("Henry V"); "Apollo 13" and "Se7en" are not flagged.
    """
    return bool(_SEQUEL.search(_YEAR_SUFFIX.sub("", title.strip())))


def target_mask(target: FeedTarget, dataset: Dataset) -> npt.NDArray[np.bool_]:
    """Which catalog items (internal order) a target matches; cached per dataset and target."""
    cache = _MASKS.setdefault(dataset, {})
    key = target.model_dump_json()
    mask = cache.get(key)
    if mask is None:
        mask = _compute_mask(target, dataset.catalog)
        cache[key] = mask
    return mask


def _compute_mask(target: FeedTarget, catalog: pd.DataFrame) -> npt.NDArray[np.bool_]:
    n = len(catalog)
    if isinstance(target, TitlePatternTarget):
        titles = catalog[Columns.TITLE].astype(str)
        return np.fromiter((is_sequel_title(t) for t in titles), dtype=bool, count=n)
    if target.attribute not in catalog.columns:
        return np.zeros(n, dtype=bool)
    column = catalog[target.attribute]
    if isinstance(target, NumericTarget):
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        mask = ~np.isnan(values)
        if target.min is not None:
            mask &= values >= target.min
        if target.max is not None:
            mask &= values <= target.max
        return np.asarray(mask, dtype=bool)
    wanted = target.value.lower()
    return np.fromiter((_has_value(v, wanted) for v in column), dtype=bool, count=n)


def _has_value(value: Any, wanted: str) -> bool:
    return any(str(v).lower() == wanted for v in as_list(value))


@overload
def apply_feed_rules(
    rules: Sequence[FeedRule],
    ranked: ItemList,
    dataset: Dataset,
    *,
    now: float | None = None,
    k: int | None = None,
    boost: float = BOOST,
) -> ItemList: ...


@overload
def apply_feed_rules(
    rules: Sequence[FeedRule],
    ranked: Sequence[tuple[ItemId, float]] | Mapping[ItemId, float],
    dataset: Dataset,
    *,
    now: float | None = None,
    k: int | None = None,
    boost: float = BOOST,
) -> list[tuple[ItemId, float]]: ...


def apply_feed_rules(
    rules: Sequence[FeedRule],
    ranked: ItemList | Sequence[tuple[ItemId, float]] | Mapping[ItemId, float],
    dataset: Dataset,
    *,
    now: float | None = None,
    k: int | None = None,
    boost: float = BOOST,
) -> ItemList | list[tuple[ItemId, float]]:
    """Enforce a user's feed rules on a ranking: drop what ``exclude``/``require`` rules forbid, lift
    what ``boost`` rules favour, re-sort best first and keep ``k``.

    Expired rules (at ``now``) are ignored. Items unknown to ``dataset`` match no target: they survive
    ``exclude`` rules and are dropped by ``require`` rules. Without active rules the ranking comes back
    unchanged (truncated to ``k``). Callers ranking top-k should ask their model for more than ``k``
    items (or the whole catalog) when rules are active, since rules may drop many.

    Args:
        rules: The user's rules (e.g. ``memory.feed_rules(user_id)``).
        ranked: An :class:`~recpilot.types.ItemList`, ``(item_id, score)`` pairs best first, or a
            mapping of item id to score.
        dataset: The catalog the ids belong to (its item attributes and titles).
        now: Unix time the rules are judged at (default: now).
        k: How many items to keep (default: all that remain).
        boost: What a matching boost rule adds to the min-max scaled score.

    Returns:
        The same kind of ranking as given (an ``ItemList`` for an ``ItemList``, else pairs).
    """
    now = time.time() if now is None else now
    active = [rule for rule in rules if rule.active(now)]
    if isinstance(ranked, ItemList):
        ids: list[ItemId] = ranked.ids()  # type: ignore[assignment]
        scores = np.asarray(ranked.scores, dtype=np.float64)
    else:
        pairs = list(ranked.items()) if isinstance(ranked, Mapping) else list(ranked)
        ids = [item for item, _ in pairs]
        scores = np.asarray([score for _, score in pairs], dtype=np.float64)
    if active and ids:
        ids, scores = _enforce(active, ids, scores, dataset, boost)
    if k is not None:
        ids, scores = ids[: max(k, 0)], scores[: max(k, 0)]
    if isinstance(ranked, ItemList):
        return ItemList(np.asarray(ids), scores.astype(np.float32), ranked.model)
    return [(item, float(score)) for item, score in zip(ids, scores.tolist(), strict=True)]


def _enforce(
    rules: Sequence[FeedRule],
    ids: list[ItemId],
    scores: npt.NDArray[np.float64],
    dataset: Dataset,
    boost: float,
) -> tuple[list[ItemId], npt.NDArray[np.float64]]:
    index = dataset.items.to_internal(_coerced(ids, dataset), strict=False)
    known = index >= 0
    keep = np.ones(len(ids), dtype=bool)
    lift = np.zeros(len(ids), dtype=np.float64)
    for rule in rules:
        hits = np.zeros(len(ids), dtype=bool)
        hits[known] = target_mask(rule.target, dataset)[index[known]]
        if rule.effect == "exclude":
            keep &= ~hits
        elif rule.effect == "require":
            keep &= hits
        else:
            lift += boost * hits
    if lift.any():
        finite = np.isfinite(scores)
        lo = scores[finite].min() if finite.any() else 0.0
        span = (scores[finite].max() - lo) if finite.any() else 0.0
        scores = ((scores - lo) / span if span > 0 else np.ones_like(scores)) + lift
    kept = np.flatnonzero(keep)
    order = kept[np.argsort(-scores[kept], kind="stable")]
    return [ids[i] for i in order.tolist()], scores[order]


def _coerced(ids: list[ItemId], dataset: Dataset) -> list[Any]:
    """Ids in the dataset's id type ("1" -> 1 when item ids are integers)."""
    if dataset.items.external_ids.dtype.kind not in "iu":
        return list(ids)
    return [int(i) if isinstance(i, str) and i.strip().lstrip("-").isdigit() else i for i in ids]


def feed_adjuster(rules: Sequence[FeedRule], *, now: float | None = None) -> FeedAdjuster:
    """The rules as a :class:`~recpilot.ranking.ScoreAdjuster`, so a ranking obeys them before it keeps
    its top k (the agent's ranking tool, ``/v1/recommend``, MCP and ``recpilot recommend``)."""
    return FeedAdjuster(tuple(rules), now)


@dataclass(frozen=True)
class FeedAdjuster:
    """Callable form of :func:`feed_adjuster` (see there)."""

    rules: tuple[FeedRule, ...]
    now: float | None = None

    @property
    def only_drops(self) -> bool:
        """True without an active ``boost`` rule: the rules then only drop items, keeping the order."""
        return not any(rule.effect == "boost" and rule.active(self.now) for rule in self.rules)

    def __call__(self, ctx: RankingContext, scores: dict[ItemId, float]) -> dict[ItemId, float]:
        """The scores of the items the rules let through, lifted by the boost rules."""
        return dict(apply_feed_rules(self.rules, scores, ctx.catalog.dataset, now=self.now))
