"""Batches of item histories, the input of every model's scoring hooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Histories:
    """A batch of item histories in time order, as ``(indptr, items)`` over internal item indices.

    Row ``i`` is ``items[indptr[i]:indptr[i+1]]``, oldest first. Models that ignore order use :attr:`csr`.
    """

    indptr: npt.NDArray[np.int64]
    items: npt.NDArray[np.int32]
    n_items: int

    @classmethod
    def from_lists(
        cls, histories: Sequence[Sequence[int] | npt.NDArray[np.integer[Any]]], n_items: int
    ) -> Histories:
        """Build from a list of per-row item index sequences."""
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = (
            np.concatenate([np.asarray(h, dtype=np.int32) for h in histories])
            if len(histories) and indptr[-1] > 0
            else np.empty(0, dtype=np.int32)
        )
        return cls(indptr, items, n_items)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def sequence(self, row: int) -> npt.NDArray[np.int32]:
        """Row ``row`` in time order."""
        return self.items[self.indptr[row] : self.indptr[row + 1]]

    @cached_property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Number of items per row."""
        return np.diff(self.indptr)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Binary ``(rows, n_items)`` matrix; repeated items count once."""
        matrix = sp.csr_matrix(
            (np.ones(len(self.items), dtype=np.float32), self.items, self.indptr),
            shape=(len(self), self.n_items),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix


def mask_csr(scores: npt.NDArray[np.float32], mask: sp.csr_matrix) -> None:
    """Set ``scores[row, item]`` to ``-inf`` in place for every stored entry of ``mask``."""
    rows = np.repeat(np.arange(mask.shape[0]), np.diff(mask.indptr))
    scores[rows, mask.indices] = -np.inf
