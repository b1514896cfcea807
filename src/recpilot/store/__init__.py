"""The catalog store: a dataset in SQLite or PostgreSQL, searched with hard constraints and full text.

>>> from recpilot.store import CatalogQuery, CatalogStore
>>> store = CatalogStore(":memory:")
>>> store.search(CatalogQuery(text="toy story"))
[]
"""

from recpilot.store.catalog import CatalogStore
from recpilot.store.records import (
    AttributeInfo,
    AttributeValue,
    HistoryEvent,
    ItemRecord,
    SearchHit,
    StoreInfo,
)
from recpilot.store.search import CatalogQuery

__all__ = [
    "AttributeInfo",
    "AttributeValue",
    "CatalogQuery",
    "CatalogStore",
    "HistoryEvent",
    "ItemRecord",
    "SearchHit",
    "StoreInfo",
]
