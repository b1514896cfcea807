"""Explanations of recommendations: matched constraints, the closest history item, the ranking.

Evidence is computed from the catalog and the ranking model, never invented: an item's "anchor" is the
item of the user's recent history that the model finds most similar to it (one batched model call for
all items of a list, memoised per cached ranking), and the ranking names the model that ordered it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recpilot.models.base import Histories, Recommender
from recpilot.service.caching import RankedPrefix
from recpilot.service.schemas import ExplanationOut, ItemOut
from recpilot.tools.context import Catalog, as_list, plain_value
from recpilot.types import HardConstraints, ItemId, Reason

_HIDDEN = ("item_id", "title", "text")
_ROLE_WORDS = {
    "collaborative": "people with similar taste rated it highly",
    "sequential": "it fits what you watched most recently",
    "content": "its content matches what you like",
    "popularity": "it is among the most popular",
    "top_rated": "it is among the best rated",
}
#: Rankings that need no fitted model: scores straight from the catalog.
CATALOG_RANKINGS = ("popularity", "top_rated")
#: History items an explanation compares a recommendation with (the most recent ones).
ANCHORS = 50


class Explainer:
    """Builds the items of an answer with their evidence.

    Args:
        catalog: The catalog (its rows are read into plain dicts once).
        models: The fitted models by role (for naming the ranking).
        role: The default ranking role; its model finds each item's closest history item.
    """

    def __init__(self, catalog: Catalog, models: dict[str, Recommender[Any]], role: str) -> None:
        self.catalog = catalog
        self.models = models
        self.role = role
        self.model = models[role]
        data = catalog.dataset
        self._ids: list[ItemId] = data.items.external_ids.tolist()
        self._titles: list[str] = [str(t) for t in data.catalog["title"].tolist()]
        self._attributes: list[dict[str, Any]] = [
            {
                k: v
                for k, v in ((k, plain_value(v)) for k, v in row.items())
                if k not in _HIDDEN and v not in (None, [], "")
            }
            for row in data.catalog.to_dict("records")
        ]

    def attributes(self, index: int) -> dict[str, Any]:
        """The displayable catalog fields of the item at internal ``index``."""
        return self._attributes[index]

    def explain(self, user_id: str, item: ItemId, history: list[ItemId]) -> ExplanationOut:
        """Why ``item`` suits a user with ``history`` (their dataset history and liked items)."""
        recent = [h for h in history if self.catalog.has_item(h)][-ANCHORS:]
        anchor = self.closest(item, recent)
        reasons = self.reasons(self.catalog.index(item), HardConstraints(), anchor, cold=not recent)
        return ExplanationOut(
            user_id=user_id,
            item_id=item,
            title=self.catalog.title(item),
            explanation="; ".join(r.text for r in reasons),
            reasons=reasons,
        )

    def items(
        self,
        picked: list[tuple[int, float]],
        history: list[ItemId],
        constraints: HardConstraints,
        prefix: RankedPrefix | None,
        role: str,
        *,
        explain: bool,
    ) -> list[ItemOut]:
        """The answer's items (catalog positions and scores, best first) with their evidence."""
        anchors: dict[int, ItemId | None] = prefix.anchors if prefix is not None else {}
        if explain:
            missing = [position for position, _ in picked if position not in anchors]
            found = self._anchors([self._ids[p] for p in missing], history[-ANCHORS:])
            anchors.update(zip(missing, found, strict=True))
        memo = prefix.explained if prefix is not None and explain and constraints.is_empty() else None
        out: list[ItemOut] = []
        for position, score in picked:
            item = memo.get((position, role)) if memo is not None else None
            if item is None:
                item = self._item(position, score, constraints, anchors, history, role, explain=explain)
                if memo is not None:
                    memo[(position, role)] = item
            out.append(item)
        return out

    def _item(
        self,
        position: int,
        score: float,
        constraints: HardConstraints,
        anchors: dict[int, ItemId | None],
        history: list[ItemId],
        role: str,
        *,
        explain: bool,
    ) -> ItemOut:
        reasons = (
            self.reasons(position, constraints, anchors[position], cold=not history, role=role)
            if explain
            else []
        )
        # Built from the catalog's own rows, so pydantic's validation is skipped on this hot path.
        return ItemOut.model_construct(
            item_id=self._ids[position],
            title=self._titles[position],
            score=round(float(score), 6),
            attributes=self._attributes[position],
            explanation="; ".join(r.text for r in reasons),
            reasons=reasons,
        )

    def _anchors(self, items: list[ItemId], history: list[ItemId]) -> list[ItemId | None]:
        """For each item, the history item the ranking model finds most similar (None if none is)."""
        if not items or not history:
            return [None] * len(items)
        model = self.model
        rows = model.item_map.to_internal(items)
        columns = model.item_map.to_internal(history)
        # One batched call for all items (the public score() takes one history at a time).
        one_item_histories = Histories.from_lists([np.array([r]) for r in rows], model.n_items)
        similarity = np.asarray(model._score_histories(one_item_histories))[:, columns]
        similarity[rows[:, None] == columns[None, :]] = -np.inf
        best = similarity.argmax(axis=1)
        top = similarity[np.arange(len(rows)), best]
        return [history[b] if np.isfinite(t) and t > 0 else None for b, t in zip(best, top, strict=True)]

    def reasons(
        self,
        position: int,
        constraints: HardConstraints,
        anchor: ItemId | None,
        *,
        cold: bool,
        role: str | None = None,
    ) -> list[Reason]:
        """Evidence for the item at internal ``position``: matched constraints, the closest history
        item (``anchor``, see :meth:`closest`) and the ranking (``role``, default the service's)."""
        row = self._attributes[position]
        reasons: list[Reason] = []
        for name, accepted in constraints.attributes.items():
            wanted = {a.lower() for a in accepted}
            have = [v for v in as_list(row.get(name)) if str(v).lower() in wanted]
            if have:
                text = f"{name}: {', '.join(map(str, have))}"
                reasons.append(
                    Reason(kind="constraint", text=text, evidence={"attribute": name, "values": have})
                )
        for name in constraints.numeric:
            if row.get(name) is not None:
                text = f"{name} {row[name]}"
                reasons.append(
                    Reason(kind="constraint", text=text, evidence={"attribute": name, "value": row[name]})
                )
        if anchor is not None:
            title = self._titles[self.catalog.dataset.items.index_of(anchor)]
            reasons.append(
                Reason(
                    kind="history", text=f"similar to {title} from your history", evidence={"item_id": anchor}
                )
            )
        role = role or self.role
        if cold or role == "popularity":
            reasons.append(Reason(kind="popularity", text="it is among the most popular", evidence={}))
        else:
            name = role if role in CATALOG_RANKINGS else self.models[role].name
            text = _ROLE_WORDS.get(role, f"ranked by {name}")
            reasons.append(Reason(kind="model", text=text, evidence={"model": name, "role": role}))
        return reasons

    def closest(self, item: ItemId, history: list[ItemId]) -> ItemId | None:
        """The item of ``history`` most similar to ``item`` under the ranking model, if any is."""
        return self._anchors([item], history)[0]
