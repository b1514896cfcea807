"""The ranking's caches: ranked prefixes per history, and a small thread-safe LRU dictionary.

Production recommenders do not rank the whole catalog on every request: they keep each user's best
items (here the top :data:`PREFIX` in one canonical order) and filter them per request. Filtering an
ordered prefix by a predicate and keeping the first ``k`` gives exactly the first ``k`` of the
filtered full ranking whenever ``k`` items survive, so results stay exact; when fewer survive the
pipeline ranks the whole catalog instead (see :class:`recpilot.ranking.Ranking`).

A prefix is keyed by the ranking and the effective history (the dataset history plus remembered likes
plus the request's ad-hoc history), so a like that changes the history selects a new entry and
nothing stale is ever served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from recpilot.types import Reason

#: Items kept per cached ranking; requests whose filters leave fewer than k of them rank in full.
PREFIX = 400

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A thread-safe dictionary that forgets its least recently used entries beyond ``size``.

    Args:
        size: The most entries kept; 0 disables caching (``get`` always misses).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry, or None on a miss."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        """Store an entry (dropping the oldest beyond the size) and return it."""
        if self.size <= 0:
            return value
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The entry, made and stored on a miss (two racing threads may both make it; one wins)."""
        found = self.get(key)
        return found if found is not None else self.put(key, make())

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def canonical_order(scores: npt.NDArray[np.floating[Any]], k: int | None = None) -> npt.NDArray[np.int64]:
    """Indices of the finite ``scores``, best first, ties broken by the lower index; the first ``k``.

    The order is total, so every prefix of it is well defined (unlike a plain ``argpartition`` top-k,
    which may keep any of several items tied at the k-th score).
    """
    finite = np.flatnonzero(np.isfinite(scores))
    if k is not None and len(finite) > k:
        values = scores[finite]
        threshold = values[np.argpartition(-values, k - 1)[k - 1]]
        finite = finite[values >= threshold]  # every item tied at the threshold stays a candidate
    order = np.lexsort((finite, -scores[finite]))
    chosen = finite[order]
    return (chosen if k is None else chosen[:k]).astype(np.int64)


@dataclass
class RankedPrefix:
    """The best items for one history in canonical order, the history's own items removed.

    Attributes:
        items: Internal item indices, best first.
        scores: Their scores.
        complete: Whether ``items`` holds every rankable item (then no request needs a full ranking).
        explained: Memo of each explained item's reasons (catalog position -> reasons) for requests
            whose reasons depend only on this history and ranking (no worded constraints, no tool
            evidence).
    """

    items: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    complete: bool
    explained: dict[int, tuple[Reason, ...]] = field(default_factory=dict)
