"""Model names, specs and construction from configuration.

A model is described the same way everywhere (CLI, config files, API, tests): a name from
:data:`MODELS` or a dotted class path, plus a config mapping, e.g.
``{"class": "ease", "config": {"l2": 500}}`` or ``{"class": "mypkg.models.MyRecommender"}``.
Classes are imported lazily, so optional extras (torch) load only when their model is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recpilot.errors import ConfigError
from recpilot.models.base import Recommender, resolve_model_class

MODELS: dict[str, str] = {
    "random": "recpilot.models.random_baseline.RandomRecommender",
    "pop": "recpilot.models.popularity.PopularityRecommender",
    "itemknn": "recpilot.models.itemknn.ItemKNNRecommender",
    "ease": "recpilot.models.ease.EaseRecommender",
    "ease-lowrank": "recpilot.models.ease_lowrank.EaseLowRankRecommender",
    "als": "recpilot.models.implicit_mf.ALSRecommender",
    "bpr": "recpilot.models.implicit_mf.BPRRecommender",
    "sasrec": "recpilot.models.sasrec.SASRecRecommender",
    "content": "recpilot.models.content.ContentRecommender",
}


class ModelSpec(BaseModel):
    """A recommender described as data.

    Attributes:
        class_: A name from :data:`MODELS` or a dotted path to a :class:`Recommender` subclass.
        config: Fields of that model's configuration.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field(alias="class")
    config: dict[str, Any] = Field(default_factory=dict)


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return list(MODELS)


def model_class(name_or_path: str) -> type[Recommender[Any]]:
    """The class for a registry name or dotted path."""
    path = MODELS.get(name_or_path.lower(), name_or_path)
    if "." not in path:
        raise ConfigError(
            f"unknown model {name_or_path!r}; choose one of {', '.join(MODELS)} or a dotted class path"
        )
    return resolve_model_class(path)


def build_model(spec: str | Mapping[str, Any] | ModelSpec, **overrides: Any) -> Recommender[Any]:
    """Build an unfitted recommender from a name, a ``{"class", "config"}`` mapping or a ModelSpec."""
    if isinstance(spec, str):
        spec = ModelSpec.model_validate({"class": spec})
    elif not isinstance(spec, ModelSpec):
        unknown = set(spec) - {"class", "class_", "config"}
        if unknown:
            raise ConfigError(f"model spec has unknown key(s) {sorted(unknown)}; use 'class' and 'config'")
        if "class" not in spec and "class_" not in spec:
            raise ConfigError("model spec needs a 'class' (a model name or dotted class path)")
        spec = ModelSpec.model_validate(dict(spec))
    cls = model_class(spec.class_)
    return cls(**{**spec.config, **overrides})
