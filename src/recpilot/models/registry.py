"""Model names, specs and construction from configuration: the ``model`` kind of :mod:`recpilot.registry`.

A model is described the same way everywhere (CLI, config files, API, tests): a name from
:data:`MODELS` or a dotted class path, plus a config mapping, e.g.
``{"class": "ease", "config": {"l2": 500}}`` or ``{"class": "mypkg.models.MyRecommender"}``.
Classes are imported lazily, so optional extras (torch) load only when their model is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from recpilot.models.base import Recommender
from recpilot.registry import REGISTRY, Spec

#: A recommender described as data (the registry's :class:`~recpilot.registry.Spec`).
ModelSpec = Spec

#: Registry name -> dotted class path of every model, built-in and registered (a live, read-only view of
#: the registry: a plugin registered after import is in it).
MODELS: Mapping[str, str] = REGISTRY.view("model")


def available_models() -> list[str]:
    """Names accepted by :func:`build_model` (built-in and registered)."""
    return REGISTRY.names("model")


def model_class(name_or_path: str) -> type[Recommender[Any]]:
    """The class for a registry name or dotted path."""
    return cast("type[Recommender[Any]]", REGISTRY.resolve("model", name_or_path))


def build_model(spec: str | Mapping[str, Any] | Spec, **overrides: Any) -> Recommender[Any]:
    """Build an unfitted recommender from a name, a ``{"class", "config"}`` mapping or a spec."""
    return cast("Recommender[Any]", REGISTRY.build("model", spec, **overrides))
