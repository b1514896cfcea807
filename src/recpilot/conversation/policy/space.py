"""The item x attribute space an ask-or-recommend policy reasons over.

An :class:`AttributeSpace` is a binary item x attribute matrix (scipy CSR) with external item ids and
``field=value`` attribute names (``tag=69``, ``genres=Comedy``, ``decade=1990s``), the same spelling
:class:`~recpilot.conversation.state.DialogueState` uses. It is catalog-agnostic: build it from LastFM*
``item_dict.json`` lists, from a :class:`~recpilot.data.Dataset` catalog, or from any mapping of items to
attributes. Candidate filtering and attribute statistics are vectorised numpy / sparse operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import DataError

#: A scalar catalog column with more distinct values than this share of the items is an identifier
#: (imdb_id, tmdb_id), not an attribute anyone would be asked about.
_ID_LIKE_SHARE = 0.2
#: Below this share of candidates, statistics slice the candidate rows instead of scanning every row.
_ROW_SLICE_SHARE = 0.25

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class AttributeSpace:
    """Items, their binary attributes and fast candidate / statistics operations.

    Build one with :meth:`from_item_attributes`, :meth:`from_lastfm_items` or :meth:`from_dataset`.

    Attributes:
        matrix: ``(n_items, n_attributes)`` float32 CSR with 1.0 where an item has an attribute.
        item_ids: External item ids as text, row order.
        attribute_names: ``field=value`` names, column order.
    """

    matrix: sp.csr_matrix
    item_ids: tuple[str, ...]
    attribute_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.item_ids), len(self.attribute_names)):
            raise DataError(
                f"attribute matrix has shape {self.matrix.shape} but there are {len(self.item_ids)} items "
                f"and {len(self.attribute_names)} attribute names"
            )

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_item_attributes(cls, attributes: Mapping[Any, Iterable[str]]) -> AttributeSpace:
        """Build from ``{item id: [field=value, ...]}`` (ids are kept as text, in the mapping's order)."""
        item_ids = tuple(str(item) for item in attributes)
        names: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, values in enumerate(attributes.values()):
            for value in dict.fromkeys(values):  # an attribute listed twice counts once
                rows.append(row)
                cols.append(names.setdefault(value, len(names)))
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(item_ids), len(names))
        )
        return cls(matrix, item_ids, tuple(names))

    @classmethod
    def from_lastfm_items(cls, item_dict: Mapping[str, Mapping[str, Sequence[int]]]) -> AttributeSpace:
        """Build from LastFM* ``item_dict.json``: ``{item: {"feature_index": [tag ids]}}`` -> ``tag=<id>``."""
        attributes: dict[str, list[str]] = {}
        for item, record in item_dict.items():
            features = record.get("feature_index") if isinstance(record, Mapping) else None
            if features is None:
                raise DataError(f"item {item!r} has no 'feature_index' list in item_dict.json")
            attributes[str(item)] = [f"tag={int(feature)}" for feature in features]
        return cls.from_item_attributes(attributes)

    @classmethod
    def from_dataset(cls, dataset: Dataset, fields: Sequence[str] | None = None) -> AttributeSpace:
        """Build from a dataset catalog: list columns (``genres``, ``tags``) and low-cardinality scalars.

        A ``year`` column also yields ``decade=1990s``. Identifier-like scalar columns (more distinct
        values than a fifth of the items) are skipped unless named in ``fields``.

        Args:
            dataset: The dataset whose catalog describes the items.
            fields: Catalog columns to use; by default every usable attribute column.
        """
        catalog = dataset.catalog
        unknown = [f for f in fields or () if f not in catalog.columns]
        if unknown:
            raise DataError(
                f"dataset {dataset.name!r} has no catalog column(s) {unknown}; "
                f"attribute columns are {dataset.attribute_columns}"
            )
        chosen = list(fields) if fields is not None else dataset.attribute_columns
        per_item: list[list[str]] = [[] for _ in range(len(catalog))]
        for field in chosen:
            _add_column(per_item, field, catalog[field], explicit=fields is not None)
        ids = catalog[Columns.ITEM].astype(str).tolist()
        return cls.from_item_attributes(dict(zip(ids, per_item, strict=True)))

    # -- lookups --------------------------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        """Number of items (rows)."""
        return len(self.item_ids)

    @property
    def n_attributes(self) -> int:
        """Number of attributes (columns)."""
        return len(self.attribute_names)

    @cached_property
    def _item_index(self) -> dict[str, int]:
        return {item: row for row, item in enumerate(self.item_ids)}

    @cached_property
    def _attribute_index(self) -> dict[str, int]:
        return {name: col for col, name in enumerate(self.attribute_names)}

    @cached_property
    def csc(self) -> sp.csc_matrix:
        """The matrix in column order (attribute -> items)."""
        return self.matrix.tocsc()

    @cached_property
    def normalised(self) -> sp.csr_matrix:
        """Rows scaled to unit length (cosine similarity between items is a row product)."""
        norms = np.sqrt(np.asarray(self.matrix.multiply(self.matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ self.matrix)

    def item_positions(self, item_ids: Iterable[object]) -> IndexArray:
        """Row of each item id (``-1`` for ids not in the space)."""
        index = self._item_index
        return np.array([index.get(str(item), -1) for item in item_ids], dtype=np.int64)

    def attribute_positions(self, names: Iterable[str]) -> IndexArray:
        """Column of each attribute name (``-1`` for names not in the space)."""
        index = self._attribute_index
        return np.array([index.get(name, -1) for name in names], dtype=np.int64)

    def has_attribute(self, name: str) -> bool:
        """Whether ``name`` is an attribute of this space."""
        return name in self._attribute_index

    def attributes_of(self, item_id: object) -> list[str]:
        """The attribute names of one item (empty for an unknown id)."""
        row = self._item_index.get(str(item_id))
        if row is None:
            return []
        return [
            self.attribute_names[c]
            for c in self.matrix.indices[self.matrix.indptr[row] : self.matrix.indptr[row + 1]]
        ]

    def items_with(self, name: str) -> IndexArray:
        """Rows of the items that have attribute ``name`` (empty for an unknown name)."""
        col = self._attribute_index.get(name)
        if col is None:
            return np.empty(0, dtype=np.int64)
        csc = self.csc
        rows: IndexArray = np.asarray(csc.indices[csc.indptr[col] : csc.indptr[col + 1]], dtype=np.int64)
        return rows

    # -- candidate sets and statistics ------------------------------------------------------------------

    def candidate_mask(
        self,
        accepted: Iterable[str] = (),
        rejected: Iterable[str] = (),
        rejected_items: Iterable[object] = (),
    ) -> BoolArray:
        """Items that have every accepted attribute, no rejected one, and were not rejected themselves.

        Attribute names not in this space cannot be checked here and are ignored (the caller may hold
        constraints of other kinds, such as a year range).
        """
        mask = np.ones(self.n_items, dtype=np.bool_)
        for name in accepted:
            if self.has_attribute(name):
                keep = np.zeros(self.n_items, dtype=np.bool_)
                keep[self.items_with(name)] = True
                mask &= keep
        for name in rejected:
            mask[self.items_with(name)] = False
        rows = self.item_positions(rejected_items)
        mask[rows[rows >= 0]] = False
        return mask

    def attribute_mass(self, rows: IndexArray, weights: FloatArray | None = None) -> FloatArray:
        """Per attribute, the summed weight of the given item rows that have it (count when unweighted)."""
        w = np.ones(len(rows), dtype=np.float64) if weights is None else np.asarray(weights, np.float64)
        if len(rows) < _ROW_SLICE_SHARE * self.n_items:
            sub = self.matrix[rows]
            return np.asarray(sub.T @ w, dtype=np.float64).ravel()
        full = np.zeros(self.n_items, dtype=np.float64)
        full[rows] = w
        return np.asarray(self.matrix.T @ full, dtype=np.float64).ravel()

    def similarity_to(self, rows: IndexArray) -> FloatArray:
        """Each item's summed attribute cosine similarity to the items at ``rows``."""
        if len(rows) == 0:
            return np.zeros(self.n_items, dtype=np.float64)
        profile = np.asarray(self.normalised[rows].sum(axis=0), dtype=np.float64).ravel()
        return np.asarray(self.normalised @ profile, dtype=np.float64).ravel()


def _add_column(per_item: list[list[str]], field: str, column: pd.Series, *, explicit: bool) -> None:
    values = column.tolist()
    if any(isinstance(v, list | tuple) for v in values):
        for row, value in enumerate(values):
            if isinstance(value, list | tuple):
                per_item[row].extend(f"{field}={v}" for v in value if str(v).strip())
        return
    present = column.dropna()
    if field == "year" and pd.api.types.is_numeric_dtype(column):
        for row, value in enumerate(values):
            if not pd.isna(value):
                per_item[row].append(f"decade={int(value) // 10 * 10}s")
        return
    if not explicit and present.nunique() > _ID_LIKE_SHARE * max(1, len(values)):
        return
    for row, value in enumerate(values):
        if not pd.isna(value) and str(value).strip():
            per_item[row].append(f"{field}={value}")
