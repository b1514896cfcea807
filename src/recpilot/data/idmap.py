"""Explicit mapping between external ids (as in the source files) and dense internal indices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.errors import UnknownIdError


class IdMap:
    """A bijection between external ids and internal indices ``0..n-1``.

    Internal index ``i`` is ``external[i]``. Lookups are vectorised through a :class:`pandas.Index`.

    Args:
        external: The external ids in internal order; must be unique.
        kind: ``"user"`` or ``"item"``, used in error messages.
    """

    def __init__(self, external: Sequence[Any] | npt.NDArray[Any] | pd.Index, kind: str) -> None:
        index = pd.Index(external)
        if not index.is_unique:
            dupes = index[index.duplicated()].unique().tolist()[:5]
            raise ValueError(f"IdMap({kind}): external ids must be unique, duplicates: {dupes}")
        self._index = index
        self.kind = kind

    @classmethod
    def from_values(cls, values: Iterable[Any], kind: str) -> IdMap:
        """Build a map from (possibly repeated) values, in order of first appearance."""
        return cls(pd.unique(pd.Series(list(values) if not isinstance(values, pd.Series) else values)), kind)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._index

    @property
    def external_ids(self) -> npt.NDArray[Any]:
        """External ids in internal order."""
        return np.asarray(self._index.to_numpy())

    def to_internal(
        self, ids: Iterable[Any], *, strict: bool = True, hint: str = ""
    ) -> npt.NDArray[np.int64]:
        """Map external ids to internal indices.

        Args:
            ids: External ids.
            strict: Raise :class:`UnknownIdError` for ids not in the map; otherwise map them to -1.
            hint: Appended to the error message.
        """
        values = list(ids) if not isinstance(ids, np.ndarray | pd.Index | pd.Series) else ids
        positions = self._index.get_indexer(values).astype(np.int64)
        if strict and (positions < 0).any():
            missing = [v for v, p in zip(list(values), positions, strict=True) if p < 0]
            raise UnknownIdError(self.kind, missing, hint)
        return np.asarray(positions, dtype=np.int64)

    def index_of(self, external_id: object, *, hint: str = "") -> int:
        """The internal index of one external id (raises :class:`UnknownIdError` when unknown)."""
        try:
            position = self._index.get_loc(external_id)
        except (KeyError, TypeError):
            raise UnknownIdError(self.kind, [external_id], hint) from None
        return int(position)

    def to_external(self, indices: npt.ArrayLike) -> npt.NDArray[Any]:
        """Map internal indices to external ids."""
        return np.asarray(self._index.to_numpy()[np.asarray(indices, dtype=np.int64)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self.kind == other.kind and self._index.equals(other._index)

    def __hash__(self) -> int:
        return hash((self.kind, len(self)))

    def __repr__(self) -> str:
        return f"IdMap(kind={self.kind!r}, size={len(self)})"
