"""The candidates of a ranking: the whole catalog or a given pool, narrowed by a catalog search for the
hard constraints (cached per distinct constraints), and the pool's soft scores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from recpilot.errors import ConfigError
from recpilot.ranking.cache import LruCache
from recpilot.ranking.catalog import Catalog
from recpilot.store import CatalogQuery
from recpilot.types import HardConstraints, ItemList


class CandidatePool:
    """Which catalog positions a request may rank.

    Args:
        catalog: The catalog (its store answers the constraint searches).
        cache_size: Distinct constraint searches kept (0: search every time).
    """

    def __init__(self, catalog: Catalog, *, cache_size: int = 0) -> None:
        self.catalog = catalog
        self._n = catalog.dataset.n_items
        self._pools: LruCache[str, npt.NDArray[np.bool_]] = LruCache(cache_size)

    def pool(self, constraints: HardConstraints, candidates: ItemList | None) -> npt.NDArray[np.bool_] | None:
        """The catalog positions the candidates and the constraints allow (None: all)."""
        pool: npt.NDArray[np.bool_] | None = None
        if candidates is not None:
            pool = np.zeros(self._n, dtype=bool)
            pool[self.catalog.positions(candidates.ids())] = True
        if not _searched(constraints):
            return pool
        key = constraints.model_copy(update={"exclude_items": []}).model_dump_json()
        allowed = self._pools.get_or_make(key, lambda: self._search(constraints))
        return allowed if pool is None else pool & allowed

    def _search(self, constraints: HardConstraints) -> npt.NDArray[np.bool_]:
        try:
            query = CatalogQuery(
                text=constraints.keywords,
                match="any" if constraints.keywords else "all",
                attributes={k: list(v) for k, v in constraints.attributes.items() if v},
                exclude_attributes={k: list(v) for k, v in constraints.exclude_attributes.items() if v},
                numeric={k: (r.min, r.max) for k, r in constraints.numeric.items()},
                order_by="popularity",
            )
            positions, _ = self.catalog.search(query, every=True)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]) for e in exc.errors()[:3])
            raise ConfigError(f"constraints: {problems}") from None
        except ConfigError as exc:
            raise ConfigError(f"constraints: {exc}") from None
        mask = np.zeros(self._n, dtype=bool)
        mask[positions] = True
        return mask

    def soft(self, candidates: ItemList | None) -> npt.NDArray[np.float64] | None:
        """The candidates' soft scores by catalog position (0 where none), or None without any."""
        if candidates is None or not len(candidates):
            return None
        values = np.asarray(candidates.scores, dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.any():
            return None
        soft = np.zeros(self._n)
        positions = self.catalog.lookup(candidates.ids())
        known = finite & (positions >= 0)
        soft[positions[known]] = values[known]
        return soft


def _searched(constraints: HardConstraints) -> bool:
    """Whether the constraints narrow the catalog (``exclude_items`` are exclusions, not a search)."""
    return bool(constraints.attributes or constraints.exclude_attributes or constraints.numeric) or bool(
        constraints.keywords
    )
