"""Typed records a catalog store returns (pydantic, so agent tools can hand them out as JSON; search hits
are slotted dataclasses, built by the thousand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

AttributeValue = str | int | float | bool


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemRecord(_Record):
    """One catalog item.

    Attributes:
        item_id: External id, with its original type.
        index: Internal index (the row of :attr:`Dataset.catalog <recpilot.data.Dataset.catalog>`).
        title: Display title.
        text: Free text (description, plot, tags joined), possibly empty.
        attributes: Every catalog attribute, each as a list of values in catalog order (one value for a
            scalar attribute, none where the item has no value).
    """

    item_id: int | str
    index: int
    title: str
    text: str
    attributes: dict[str, list[AttributeValue]]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One item found by :meth:`CatalogStore.search <recpilot.store.CatalogStore.search>`.

    A plain slotted dataclass, not a pydantic record: a search may return thousands of hits, and
    building each costs a fraction of a microsecond this way (``dataclasses.asdict`` gives its JSON).

    Attributes:
        item_id: External id.
        title: Display title.
        score: Text relevance, higher is better (negated BM25 on SQLite, ``ts_rank`` on PostgreSQL;
            not comparable across backends); 0.0 when the query has no text.
        year: The item's year, when the catalog has one.
        popularity: Number of distinct users who interacted with the item.
    """

    item_id: int | str
    title: str
    score: float
    year: int | None
    popularity: int


class HistoryEvent(_Record):
    """One interaction in a user's history.

    Attributes:
        item_id: External item id.
        rating: The rating (1.0 for implicit feedback).
        timestamp: Time of the interaction (or its position in the sequence when the source had none).
    """

    item_id: int | str
    rating: float
    timestamp: int


class AttributeInfo(_Record):
    """What the store knows about one catalog attribute.

    Attributes:
        name: Attribute (catalog column) name.
        value_type: Python type of its values.
        multivalued: True when items hold lists of values (genres, tags).
        n_values: Number of distinct values.
    """

    name: str
    value_type: Literal["str", "int", "float", "bool"]
    multivalued: bool
    n_values: int


class StoreInfo(_Record):
    """Summary of a catalog store.

    Attributes:
        url: Database URL (password hidden).
        dataset: Name of the imported dataset, or None when the store is empty.
        schema_version: Version of the table layout.
        n_items: Number of items.
        n_users: Number of users.
        n_interactions: Number of interactions.
    """

    url: str
    dataset: str | None
    schema_version: int
    n_items: int
    n_users: int
    n_interactions: int
