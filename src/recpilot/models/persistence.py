"""Saving and loading fitted recommenders: ``model.json`` (format, spec, books) + ``state.npz`` (arrays).

No pickle: the concrete class is rebuilt from its spec through the registry, the arrays are read
with ``allow_pickle=False``. The base class's books are stored under ``base.*``, the model's own
arrays (:meth:`~recpilot.models.base.Recommender._get_state`) under ``model.*``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpilot.data.idmap import IdMap
from recpilot.errors import DataError
from recpilot.models.histories import Histories

if TYPE_CHECKING:
    from recpilot.models.base import Recommender

FORMAT = "recpilot-model"
FORMAT_VERSION = 1


def resolve_model_class(path: str) -> type[Recommender[Any]]:
    """Import a recommender class by dotted path (``package.module.ClassName``) or registry name."""
    from recpilot.registry import REGISTRY

    cls: type[Recommender[Any]] = REGISTRY.resolve("model", path)
    return cls


def save_model(model: Recommender[Any], path: str | Path) -> Path:
    """:meth:`Recommender.save <recpilot.models.base.Recommender.save>`."""
    item_map = model.item_map
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    assert model._users is not None
    assert model._user_histories is not None
    seen = model._require_seen()
    state = {f"model.{key}": value for key, value in model._get_state().items()}
    state.update(
        {
            "base.item_ids": _portable_ids(item_map.external_ids),
            "base.user_ids": _portable_ids(model._users.external_ids),
            "base.seen_indptr": seen.indptr,
            "base.seen_indices": seen.indices,
            "base.hist_indptr": model._user_histories.indptr,
            "base.hist_items": model._user_histories.items,
            "base.popularity": model._require_popularity(),
        }
    )
    # Write to temporary names first so an interrupted save never leaves a half-written model.
    tmp_state = directory / "state.npz.tmp"
    with tmp_state.open("wb") as handle:
        np.savez(handle, **state)  # type: ignore[arg-type]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": model.name,
        **model.spec(),
        "fit_seconds": model.fit_seconds,
        "trained_on": model.trained_on,
    }
    tmp_meta = directory / "model.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2))
    tmp_state.replace(directory / "state.npz")
    tmp_meta.replace(directory / "model.json")
    return directory


def load_model(cls: type[Recommender[Any]], path: str | Path) -> Recommender[Any]:
    """:meth:`Recommender.load <recpilot.models.base.Recommender.load>`: a ``cls`` or a subclass of it."""
    directory = Path(path)
    meta_path = directory / "model.json"
    if not meta_path.is_file():
        raise DataError("not a saved recpilot model (no model.json)", path=directory)
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(
            f"model.json is not valid JSON ({exc.msg})", path=meta_path, line=exc.lineno
        ) from None
    if meta.get("format") != FORMAT:
        raise DataError(f"model.json has format {meta.get('format')!r}, expected {FORMAT!r}", path=meta_path)
    model_cls = resolve_model_class(str(meta["class"]))
    if not issubclass(model_cls, cls):
        raise DataError(f"saved model is a {model_cls.__name__}, not a {cls.__name__}", path=meta_path)
    model = model_cls(None, **meta["config"])
    with np.load(directory / "state.npz", allow_pickle=False) as data:
        state = {key: data[key] for key in data.files}
    items = IdMap(state["base.item_ids"], "item")
    model._items = items
    model._users = IdMap(state["base.user_ids"], "user")
    n_users, n_items = len(model._users), len(items)
    indices = state["base.seen_indices"]
    model._seen = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, state["base.seen_indptr"]),
        shape=(n_users, n_items),
    )
    model._user_histories = Histories(state["base.hist_indptr"], state["base.hist_items"], n_items)
    model._popularity = state["base.popularity"]
    model.fit_seconds = meta.get("fit_seconds")
    model.trained_on = meta.get("trained_on")
    model._set_state({key[6:]: value for key, value in state.items() if key.startswith("model.")})
    return model


def _portable_ids(ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if ids.dtype.kind in "iuf":
        return ids
    return ids.astype(str)
