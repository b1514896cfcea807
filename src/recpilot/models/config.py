"""Typed model configuration: declared once per model, unknown keys rejected."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from recpilot.errors import ConfigError


class RecommenderConfig(BaseModel):
    """Base of every model's typed configuration (declared once, unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=RecommenderConfig)


def make_config(
    model: str,
    config_class: type[RecommenderConfig],
    config: RecommenderConfig | None,
    overrides: dict[str, Any],
) -> RecommenderConfig:
    """``config`` with ``overrides`` applied (or built from them alone), validated by ``config_class``.

    Raises:
        ConfigError: A field is unknown or invalid; the message names ``model`` and the field.
    """
    try:
        if config is None:
            return config_class(**overrides)
        if overrides:
            return config_class(**{**config.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in err["loc"])
        problem = f"{loc}: {err['msg']}" if loc else str(err["msg"])
        raise ConfigError(f"invalid configuration for model {model!r}: {problem}") from None
    return config
