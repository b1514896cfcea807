"""Read access to the catalog for ranking and tools: search through the store, metadata from the dataset."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.titles import normalise_title
from recpilot.errors import ConfigError
from recpilot.store import CatalogQuery, CatalogStore
from recpilot.types import HardConstraints, ItemId


class Catalog:
    """Read access to the catalog for ranking and tools: SQL search through the store, metadata from the
    dataset.

    Args:
        dataset: The dataset whose catalog and interactions back the store.
        store: The catalog store holding the same dataset; without one, rankings without constraints
            and lookups by id or exact title still work, and a search raises :class:`ConfigError`.
    """

    def __init__(self, dataset: Dataset, store: CatalogStore | None = None) -> None:
        self.dataset = dataset
        self._store = store

    @property
    def store(self) -> CatalogStore:
        """The catalog store (full-text and constraint search)."""
        if self._store is None:
            raise ConfigError(
                f"the catalog of {self.dataset.name} has no store, so it cannot be searched; "
                "build it with a CatalogStore to use constraints or keyword search"
            )
        return self._store

    @property
    def name(self) -> str:
        """The dataset name."""
        return self.dataset.name

    def index(self, item_id: ItemId) -> int:
        """Internal index of an item id (ints given as text are accepted)."""
        return self.dataset.items.index_of(self.coerce_item_id(item_id), hint="ids come from search results")

    def coerce_item_id(self, item_id: ItemId) -> ItemId:
        """Match the dataset's id type (``"1"`` -> ``1`` when item ids are integers)."""
        if isinstance(item_id, str) and self._integer_ids and item_id.strip().lstrip("-").isdigit():
            return int(item_id)
        return item_id

    def position(self, item_id: object) -> int | None:
        """The catalog position (internal index) of an id given as text or in the catalog's type; None
        for an id not in the catalog. This is where the ranking boundary's text ids meet the catalog."""
        return self._positions_by_text.get(str(item_id).strip())

    def search(
        self, query: CatalogQuery, *, every: bool = False
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The catalog positions of the store's hits for ``query``, best first, and their scores.

        The store keeps each item at its dataset index, so no id is converted on the way (a search
        may return thousands of hits).

        Args:
            query: The search.
            every: Every hit, past ``query.limit``.

        Raises:
            ConfigError: The store holds another catalog than the dataset, or the query names an
                unknown attribute.
        """
        store = self.store
        if not self._store_matches:
            raise ConfigError(
                f"the catalog store at {store.url} does not hold dataset {self.dataset.name!r} "
                f"({self.dataset.n_items} items); import it there first"
            )
        return store.search_indices(query, every=every)

    def ids_at(self, positions: npt.NDArray[np.int64]) -> list[ItemId]:
        """The item ids (in the catalog's type) at catalog positions."""
        ids = self._id_list
        return [ids[p] for p in positions.tolist()]

    def positions(self, ids: Iterable[object]) -> npt.NDArray[np.int64]:
        """Catalog positions of the known ids among ``ids`` (unknown ones are left out), in order."""
        found = self.lookup(ids)
        return found[found >= 0]

    def lookup(self, ids: Iterable[object]) -> npt.NDArray[np.int64]:
        """The catalog position of each of ``ids`` (as :meth:`position`), -1 for an id not in the catalog."""
        text = self._positions_by_text
        typed = self._positions_by_int
        # An int id of an integer catalog is found without its text form (a hot path over thousands of
        # candidates); anything else goes through the text, as in :meth:`position`.
        return np.asarray(
            [typed[i] if type(i) is int and i in typed else text.get(str(i).strip(), -1) for i in ids],
            dtype=np.int64,
        )

    def dataset_user(self, user_id: str | None) -> object | None:
        """A user id (text) as the training data holds it, or None for a user the models have not seen."""
        if user_id is None:
            return None
        users = self.dataset.users
        key: object = user_id
        if users.external_ids.dtype.kind in "iu":
            try:
                key = int(user_id)
            except ValueError:
                return None
        return key if key in users else None

    def has_item(self, item_id: ItemId) -> bool:
        """Whether the id is in the catalog."""
        return self.coerce_item_id(item_id) in self.dataset.items

    def title(self, item_id: ItemId) -> str:
        """The display title of an item."""
        return self._titles[self.index(item_id)]

    def prepare(self) -> None:
        """Build now the lookup tables requests use (ids, positions, titles, columns, popularity,
        ratings, the users' histories), which are otherwise built by the first request that needs
        each: a server calls this at start-up so no user's first request pays for them."""
        # Reading a cached property builds it.
        _built = (
            self._columns,
            self._titles,
            self._id_list,
            self._positions_by_int,
            self._positions_by_text,
            self._normalised_titles,
            self.popularity,
            self.rating_score,
            self.dataset.sequences,
        )

    def row(self, item_id: ItemId) -> dict[str, Any]:
        """All catalog fields of an item (lists stay lists; missing scalars become None)."""
        index = self.index(item_id)
        return {key: plain_value(values[index]) for key, values in self._columns.items()}

    @cached_property
    def _columns(self) -> dict[str, npt.NDArray[Any]]:
        # Column arrays read once: a pandas row (``iloc``) costs ~0.1 ms, and grounding and
        # explanations read a row per shown item.
        return {str(name): column.to_numpy() for name, column in self.dataset.catalog.items()}

    @cached_property
    def _titles(self) -> list[str]:
        # Read once: a pandas cell lookup per title costs tens of microseconds on hot paths.
        return [str(t) for t in self.dataset.catalog[Columns.TITLE].tolist()]

    @cached_property
    def _id_list(self) -> list[ItemId]:
        return list(self.dataset.items.external_ids.tolist())

    @cached_property
    def _positions_by_int(self) -> dict[int, int]:
        if not self._integer_ids:
            return {}
        return {item: index for index, item in enumerate(self.dataset.items.external_ids.tolist())}

    @cached_property
    def _store_matches(self) -> bool:
        info = self.store.info()
        return info.n_items == self.dataset.n_items and info.dataset == self.dataset.name

    @cached_property
    def _positions_by_text(self) -> dict[str, int]:
        return {str(item): index for index, item in enumerate(self.dataset.items.external_ids.tolist())}

    @cached_property
    def _integer_ids(self) -> bool:
        return bool(self.dataset.items.external_ids.dtype.kind in "iu")

    @cached_property
    def _normalised_titles(self) -> dict[str, list[int]]:
        table: dict[str, list[int]] = {}
        for index, title in enumerate(self.dataset.catalog[Columns.TITLE].astype(str)):
            table.setdefault(normalise_title(title), []).append(index)
        return table

    @cached_property
    def popularity(self) -> npt.NDArray[np.float64]:
        """Distinct users per item (internal order)."""
        return self.dataset.item_popularity

    @cached_property
    def rating_score(self) -> npt.NDArray[np.float64]:
        """Bayesian-average rating per item (shrunk towards the global mean), for "top rated" requests."""
        table = self.dataset.interactions
        sums = np.bincount(
            table[Columns.ITEM_IDX], weights=table[Columns.RATING], minlength=self.dataset.n_items
        )
        counts = np.bincount(table[Columns.ITEM_IDX], minlength=self.dataset.n_items).astype(np.float64)
        prior_mean = float(table[Columns.RATING].mean())
        prior_weight = float(np.median(counts[counts > 0])) if (counts > 0).any() else 1.0
        return np.asarray((sums + prior_weight * prior_mean) / (counts + prior_weight), dtype=np.float64)

    def resolve(self, reference: ItemId, *, limit: int = 1) -> list[ItemId]:
        """Item ids a user's reference points to: an id, an exact title, or the best full-text title match.

        Exact (normalised) title matches win, the most popular first; otherwise the store's full-text
        search ranks candidates. Returns an empty list when nothing matches.
        """
        if not isinstance(reference, str) or reference.strip().isdigit():
            return [self.coerce_item_id(reference)] if self.has_item(reference) else []
        key = normalise_title(reference)
        if not key:
            return []
        exact = self._normalised_titles.get(key)
        if exact:
            best = sorted(exact, key=lambda i: -self.popularity[i])[:limit]
            return list(self.dataset.items.to_external(best).tolist())
        hits = self.store.search(CatalogQuery(text=reference, limit=max(5, limit), order_by="relevance"))
        ranked = sorted(hits, key=lambda h: (not normalise_title(h.title).startswith(key), -h.score))
        return [self.coerce_item_id(h.item_id) for h in ranked[:limit]]

    def violations(self, item_id: ItemId, constraints: HardConstraints) -> list[str]:
        """The hard constraints an item breaks, in words (empty when it satisfies all of them)."""
        row = self.row(item_id)
        problems: list[str] = []
        for name, accepted in constraints.attributes.items():
            have = {str(v).lower() for v in as_list(row.get(name))}
            if not have & {a.lower() for a in accepted}:
                problems.append(f"{name} is not one of {accepted}")
        for name, rejected in constraints.exclude_attributes.items():
            have = {str(v).lower() for v in as_list(row.get(name))}
            bad = have & {r.lower() for r in rejected}
            if bad:
                problems.append(f"{name} includes excluded {sorted(bad)}")
        for name, rng in constraints.numeric.items():
            value = row.get(name)
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            if not rng.contains(number):
                problems.append(f"{name}={value} is outside [{rng.min}, {rng.max}]")
        excluded = {str(i) for i in constraints.exclude_items}
        if str(item_id) in excluded:
            problems.append("the item was excluded")
        return problems


def as_list(value: Any) -> list[Any]:
    """An attribute value as a list (scalars wrapped, missing values, None or NaN, empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return [value]


def plain_value(value: Any) -> Any:
    """A catalog value as plain JSON-able Python (numpy scalars and arrays unwrapped, NaN -> None)."""
    if isinstance(value, list | dict | str):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
