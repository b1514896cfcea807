"""The typed dataset object every layer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recpilot.data.columns import Columns
from recpilot.data.idmap import IdMap
from recpilot.errors import DataError

_RESERVED = {Columns.ITEM, Columns.TITLE, Columns.TEXT}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions, an item catalog and optional user features, with explicit id maps.

    Build one with :meth:`from_frames` (or a loader in :mod:`recpilot.data.loaders`); do not fill the
    fields by hand.

    Attributes:
        name: A short name, used in reports.
        interactions: One row per interaction with columns ``user_idx``, ``item_idx`` (internal
            indices, int32), ``rating`` (float32; 1.0 for implicit feedback) and ``timestamp`` (int64; the
            position in the user's sequence when the source has no time).
        users: External <-> internal user ids.
        items: External <-> internal item ids. The item space is the whole catalog, including items no
            one interacted with, so full-ranking evaluation ranks over every item.
        catalog: One row per internal item index (``0..n_items-1``) with ``item_id``, ``title``,
            ``text`` and any attribute columns (scalars such as ``year`` or lists such as ``genres``).
        user_features: Optional table indexed by internal user index.
        implicit: True when the source has no explicit ratings.
        source: Where the data was read from, if anywhere.
    """

    name: str
    interactions: pd.DataFrame
    users: IdMap
    items: IdMap
    catalog: pd.DataFrame
    user_features: pd.DataFrame | None = None
    implicit: bool = False
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        user_features: pd.DataFrame | None = None,
        *,
        name: str = "dataset",
        source: str | Path | None = None,
    ) -> Dataset:
        """Build a dataset from tables with external ids.

        Args:
            interactions: Columns ``user_id``, ``item_id`` and optionally ``rating`` and ``timestamp``.
                Without ``rating`` the data is implicit (every rating 1.0); without ``timestamp`` the
                row order within each user is taken as time.
            items: Optional catalog with ``item_id`` and optionally ``title``, ``text`` and attribute
                columns. Items that appear only in interactions are added with empty metadata.
            user_features: Optional table with ``user_id`` and feature columns.
            name: Dataset name.
            source: Where the tables came from (shown in error messages).
        """
        where = str(source) if source is not None else None
        _check_ids(interactions, where)
        catalog = _catalog_with_interacted(_normalise_catalog(items, where), interactions[Columns.ITEM])
        item_map = IdMap(catalog[Columns.ITEM].to_numpy(), "item")
        user_map = IdMap.from_values(interactions[Columns.USER], "user")
        implicit = Columns.RATING not in interactions.columns
        if implicit:
            ratings = np.ones(len(interactions), dtype=np.float32)
        else:
            ratings = _numbers(interactions, Columns.RATING, where).to_numpy(dtype=np.float32)
        if Columns.TIMESTAMP in interactions.columns:
            ts = _numbers(interactions, Columns.TIMESTAMP, where).to_numpy(dtype=np.int64)
        else:
            ts = interactions.groupby(Columns.USER, sort=False).cumcount().to_numpy(dtype=np.int64)
        table = pd.DataFrame(
            {
                Columns.USER_IDX: user_map.to_internal(interactions[Columns.USER]).astype(np.int32),
                Columns.ITEM_IDX: item_map.to_internal(interactions[Columns.ITEM]).astype(np.int32),
                Columns.RATING: ratings,
                Columns.TIMESTAMP: ts,
            }
        )
        features = None if user_features is None else _indexed_features(user_features, user_map, where)
        return cls(
            name=name,
            interactions=table,
            users=user_map,
            items=item_map,
            catalog=catalog.reset_index(drop=True),
            user_features=features,
            implicit=implicit,
            source=where,
        )

    def with_interactions(self, interactions: pd.DataFrame, *, name: str | None = None) -> Dataset:
        """A dataset with the same users, items and catalog but other interactions (used by splits)."""
        return Dataset(
            name=name or self.name,
            interactions=interactions.reset_index(drop=True),
            users=self.users,
            items=self.items,
            catalog=self.catalog,
            user_features=self.user_features,
            implicit=self.implicit,
            source=self.source,
            extra=self.extra,
        )

    # -- sizes -----------------------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        """Number of users in the id map."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the catalog."""
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        """Number of interaction rows."""
        return len(self.interactions)

    @property
    def attribute_columns(self) -> list[str]:
        """Catalog columns other than id, title and text."""
        return [c for c in self.catalog.columns if c not in _RESERVED]

    # -- derived views (computed once) -----------------------------------------------------------------

    def matrix(self, values: Literal["binary", "rating"] = "binary") -> sp.csr_matrix:
        """The user x item matrix (float32 CSR); repeated interactions count once."""
        return self._binary_matrix if values == "binary" else self._rating_matrix

    @cached_property
    def _rating_matrix(self) -> sp.csr_matrix:
        last = self.interactions.drop_duplicates([Columns.USER_IDX, Columns.ITEM_IDX], keep="last")
        return sp.csr_matrix(
            (
                last[Columns.RATING].to_numpy(np.float32),
                (last[Columns.USER_IDX].to_numpy(), last[Columns.ITEM_IDX].to_numpy()),
            ),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )

    @cached_property
    def _binary_matrix(self) -> sp.csr_matrix:
        binary = self._rating_matrix.copy()
        binary.data[:] = 1.0
        return binary

    @cached_property
    def sequences(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Each user's items in time order, as ``(indptr, items)``.

        User ``u``'s sequence is ``items[indptr[u]:indptr[u+1]]``.
        """
        order = np.lexsort(
            (
                np.arange(len(self.interactions)),
                self.interactions[Columns.TIMESTAMP].to_numpy(),
                self.interactions[Columns.USER_IDX].to_numpy(),
            )
        )
        users = self.interactions[Columns.USER_IDX].to_numpy()[order]
        items = self.interactions[Columns.ITEM_IDX].to_numpy()[order].astype(np.int32)
        counts = np.bincount(users, minlength=self.n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return indptr, items

    def user_sequence(self, user_idx: int) -> npt.NDArray[np.int32]:
        """One user's items in time order."""
        indptr, items = self.sequences
        return items[indptr[user_idx] : indptr[user_idx + 1]]

    @cached_property
    def item_popularity(self) -> npt.NDArray[np.float64]:
        """Number of distinct users per item."""
        return np.asarray(self.matrix("binary").sum(axis=0), dtype=np.float64).ravel()

    @property
    def active_users(self) -> npt.NDArray[np.int64]:
        """Internal indices of users with at least one interaction."""
        return np.flatnonzero(np.diff(self.matrix("binary").indptr) > 0)

    def titles(self, item_idx: npt.ArrayLike) -> list[str]:
        """Titles of items by internal index."""
        return [str(t) for t in self.catalog[Columns.TITLE].to_numpy()[np.asarray(item_idx, dtype=np.int64)]]

    def describe(self) -> dict[str, Any]:
        """Summary statistics for reports."""
        n_pairs = self.matrix("binary").nnz
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "density": n_pairs / max(1, self.n_users * self.n_items),
            "implicit": self.implicit,
            "attributes": self.attribute_columns,
        }

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, users={self.n_users}, items={self.n_items}, "
            f"interactions={self.n_interactions}, implicit={self.implicit})"
        )


def _check_ids(interactions: pd.DataFrame, where: str | None) -> None:
    """Refuse an interactions table without rows, or without (or with missing) user and item ids."""
    missing = [c for c in (Columns.USER, Columns.ITEM) if c not in interactions.columns]
    if missing:
        raise DataError(
            f"interactions table is missing column(s) {missing}; it has {list(interactions.columns)}",
            path=where,
        )
    if len(interactions) == 0:
        raise DataError("interactions table is empty", path=where)
    for column in (Columns.USER, Columns.ITEM):
        if interactions[column].isna().any():
            row = int(np.flatnonzero(interactions[column].isna().to_numpy())[0])
            raise DataError(f"missing {column} in interaction row {row + 1}", path=where)


def _catalog_with_interacted(catalog: pd.DataFrame, interacted: pd.Series) -> pd.DataFrame:
    """The catalog plus, with empty metadata (the id as title), the items only interactions name."""
    extra_items = pd.unique(interacted[~interacted.isin(catalog[Columns.ITEM])])
    if not len(extra_items):
        return catalog
    catalog = pd.concat([catalog, pd.DataFrame({Columns.ITEM: extra_items})], ignore_index=True)
    catalog[Columns.TITLE] = _fill_text(catalog[Columns.TITLE], catalog[Columns.ITEM].astype(str))
    catalog[Columns.TEXT] = _fill_text(catalog[Columns.TEXT], "")
    _fill_list_columns(catalog)
    return catalog


def _numbers(interactions: pd.DataFrame, column: str, where: str | None) -> pd.Series:
    """``column`` as numbers; the first value that is not one is a :class:`DataError` naming its row."""
    values = pd.to_numeric(interactions[column], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        given = _plain(interactions[column].iloc[row])
        raise DataError(f"{column} in interaction row {row + 1} is not a number: {given!r}", path=where)
    return values


def _indexed_features(user_features: pd.DataFrame, user_map: IdMap, where: str | None) -> pd.DataFrame:
    """The features of the users who interacted, indexed by internal user index."""
    if Columns.USER not in user_features.columns:
        raise DataError("user features table has no user_id column", path=where)
    known = user_features[user_features[Columns.USER].isin(user_map.external_ids)]
    return known.assign(**{Columns.USER_IDX: user_map.to_internal(known[Columns.USER])}).set_index(
        Columns.USER_IDX
    )


def _normalise_catalog(items: pd.DataFrame | None, where: str | None) -> pd.DataFrame:
    if items is None:
        empty = pd.Series([], dtype=object)
        return pd.DataFrame({Columns.ITEM: empty, Columns.TITLE: empty, Columns.TEXT: empty})
    if Columns.ITEM not in items.columns:
        raise DataError(
            f"items table has no {Columns.ITEM!r} column; it has {list(items.columns)}", path=where
        )
    duplicated = items[Columns.ITEM].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(
            f"duplicate item id {_plain(items[Columns.ITEM].iloc[row])!r} in items row {row + 1}", path=where
        )
    catalog = items.copy()
    if Columns.TITLE not in catalog.columns:
        catalog[Columns.TITLE] = catalog[Columns.ITEM].astype(str)
    catalog[Columns.TITLE] = _fill_text(catalog[Columns.TITLE], catalog[Columns.ITEM].astype(str))
    if Columns.TEXT not in catalog.columns:
        catalog[Columns.TEXT] = ""
    catalog[Columns.TEXT] = _fill_text(catalog[Columns.TEXT], "")
    return catalog.reset_index(drop=True)


def _fill_text(column: pd.Series, fallback: pd.Series | str) -> pd.Series:
    """Missing text values replaced by ``fallback``, as plain Python strings (object dtype)."""
    values = column.astype(object)
    missing = values.isna()
    if isinstance(fallback, pd.Series):
        values[missing] = fallback[missing]
    else:
        values[missing] = fallback
    return values.astype(str).astype(object)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _fill_list_columns(catalog: pd.DataFrame) -> None:
    """Give items added without metadata an empty list in every list-valued attribute column."""
    for column in catalog.columns:
        if column in _RESERVED or catalog[column].dtype != object:
            continue
        values = catalog[column]
        if values.map(lambda v: isinstance(v, list)).any():
            empty = pd.Series([[] for _ in range(len(values))], index=values.index)
            catalog[column] = values.where(~values.isna(), empty)
