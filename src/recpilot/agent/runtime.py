"""Assembling what an agent needs: a catalog (dataset + store), fitted models by role, and memory.

Fitted models and the store are cached under a folder (``~/.recpilot/<dataset>`` by default) so a
second start takes a fraction of a second instead of refitting.

Start-up ends by readying the process to answer (:func:`settle`): the lookup tables and the ranking
pipeline a first request would build are built, the scores of the users with the longest histories
are computed once (they are the slowest to score and never change), and the objects
start-up made are moved out of the garbage collector's sight, so its full collections stop pausing
turns to walk the ~200k objects of the catalog and models.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recpilot.data.dataset import Dataset
from recpilot.errors import DataError, RecpilotError
from recpilot.memory.base import InMemoryProfileMemory, ProfileMemory
from recpilot.models.base import Recommender
from recpilot.models.registry import build_model
from recpilot.ranking import Ranking
from recpilot.registry import REGISTRY, Spec, SpecLike
from recpilot.store import CatalogStore
from recpilot.tools.context import Catalog

logger = logging.getLogger("recpilot.agent")

#: Default model per role: collaborative taste, item content (text/attributes).
DEFAULT_ROLES: dict[str, str] = {"collaborative": "ease", "content": "content"}


@dataclass
class AgentRuntime:
    """The parts an agent works with.

    Attributes:
        catalog: Dataset plus catalog store.
        models: Fitted recommenders by role (``collaborative``, ``content``, ``sequential``...).
        memory: Long-term profiles and sessions.
    """

    catalog: Catalog
    models: dict[str, Recommender[Any]]
    memory: ProfileMemory


def build_runtime(
    dataset: Dataset,
    *,
    store_url: str = ":memory:",
    roles: Mapping[str, SpecLike] | None = None,
    cache_dir: str | Path | None = None,
    memory: ProfileMemory | SpecLike | None = None,
) -> AgentRuntime:
    """Build (or load from ``cache_dir``) the store and the role models for ``dataset``.

    Args:
        dataset: The catalog and interactions.
        store_url: The catalog store (``:memory:`` SQLite by default; any SQLAlchemy URL).
        roles: Role -> model name, dotted path or ``{"class", "config"}`` spec (defaults to
            :data:`DEFAULT_ROLES`).
        cache_dir: Where fitted models are saved and reloaded; None fits every time.
        memory: The profile memory, or its spec (a ``memory`` registry name such as ``"sql"``: a
            part that takes an ``engine`` gets the store's); defaults to a SQL memory in the store's
            database when the store is persistent, else in-memory.
    """
    specs = {role: REGISTRY.check("model", spec) for role, spec in (roles or DEFAULT_ROLES).items()}
    if memory is not None and not isinstance(memory, ProfileMemory):
        # A bad spec fails before any model is fitted; the store's engine is given when it is built.
        memory = REGISTRY.check("memory", memory, supplied=["engine"])
    store = CatalogStore.open(store_url)
    info = store.info()
    if info.n_items != dataset.n_items or info.dataset != dataset.name:
        store.import_dataset(dataset, replace=info.n_items > 0)
    models = {role: _fitted(role, spec, dataset, cache_dir) for role, spec in specs.items()}
    profiles: ProfileMemory
    if memory is None:
        profiles = _default_memory(store, store_url)
    elif isinstance(memory, ProfileMemory):
        profiles = memory
    else:
        shared = {"engine": store.engine} if REGISTRY.accepts("memory", memory, "engine") else {}
        profiles = REGISTRY.build("memory", memory, **shared)
    runtime = AgentRuntime(catalog=Catalog(dataset, store), models=models, memory=profiles)
    settle(runtime)
    return runtime


def settle(runtime: AgentRuntime) -> None:
    """Ready a runtime to answer: build the catalog's lookup tables and the ranking pipeline, keep the
    heavy users' scores, and freeze the start-up objects.

    :meth:`~recpilot.models.base.Recommender.keep_heavy_users` scores the users with the longest
    histories now. ``gc.collect`` then ``gc.freeze`` move everything alive into the collector's
    permanent generation: a full collection no longer walks the catalog's and models' objects (on
    ml-latest-small they made 70-150 ms pauses in a few tool chains). Frozen objects are still freed
    by reference counting when dropped; only a reference cycle among them would outlive its use.
    """
    runtime.catalog.prepare()
    Ranking.of(runtime)  # the shared ranking pipeline of this catalog and these models
    for model in runtime.models.values():
        model.keep_heavy_users()
    gc.collect()
    gc.freeze()


def _default_memory(store: CatalogStore, store_url: str) -> ProfileMemory:
    if store_url == ":memory:":
        return InMemoryProfileMemory()
    try:
        from recpilot.memory.sql import SqlProfileMemory
    except ImportError:  # pragma: no cover - the SQL memory ships with the package
        return InMemoryProfileMemory()
    return SqlProfileMemory(store.engine)


def _fitted(role: str, spec: Spec, dataset: Dataset, cache_dir: str | Path | None) -> Recommender[Any]:
    model = build_model(spec)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in spec.class_)
    if cache_dir is None:
        return model.fit(dataset)
    folder = Path(cache_dir) / f"{role}-{name}-{_fingerprint(dataset, model)}"
    if (folder / "model.json").is_file():
        try:
            return Recommender.load(folder)
        except (RecpilotError, OSError, ValueError, KeyError) as exc:
            logger.warning("cached model in %s is unusable (%s); refitting", folder, exc)
    model.fit(dataset)
    try:
        model.save(folder)
    except OSError as exc:
        raise DataError(f"cannot save the fitted {name} model: {exc}", path=folder) from None
    return model


def _fingerprint(dataset: Dataset, model: Recommender[Any]) -> str:
    payload = json.dumps(
        {"spec": model.spec(), "dataset": dataset.describe(), "source": dataset.source},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
