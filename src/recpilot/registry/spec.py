"""The spec every part is described by, and the kinds of parts."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["model", "policy", "brain", "engine", "memory", "recommender"]
KINDS: tuple[Kind, ...] = typing.get_args(Kind)


class Spec(BaseModel):
    """A part described as data: ``{"class": NAME_OR_DOTTED_PATH, "config": {...}}``.

    Attributes:
        class_: A registry name of the part's kind (``"ease"``) or a dotted class path
            (``"mypkg.models.MyRecommender"``); given as ``class`` in mappings and files.
        config: Fields of that class's configuration.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    class_: str = Field(alias="class", min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, name: str, config: Mapping[str, Any] | None = None) -> Spec:
        """The spec of the part ``name`` (a registry name or dotted path) with ``config``."""
        return cls.model_validate({"class": name, "config": dict(config or {})})

    def describe(self) -> str:
        """The spec in one line, for messages: ``{"class": "ease", "config": {"l2": 0}}``."""
        if not self.config:
            return f"{{'class': {self.class_!r}}}"
        return f"{{'class': {self.class_!r}, 'config': {self.config!r}}}"


SpecLike = str | Mapping[str, Any] | Spec


def class_path(target: str | type) -> str:
    """The dotted path of a class (a path is returned as it is)."""
    return target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
