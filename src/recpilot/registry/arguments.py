"""Checking a spec's config against the class it names, before the class is built."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from recpilot.errors import ConfigError
from recpilot.registry.spec import Kind, Spec, class_path


def constructor_arguments(
    kind: Kind,
    spec: Spec,
    cls: type,
    constructor: Any,
    overrides: Mapping[str, Any],
    supplied: Collection[str] = (),
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments that build ``cls`` from ``spec.config`` and ``overrides``, checked first.

    A class with a pydantic ``config_class`` gets its validated config object first; the overrides
    that are not config fields must be constructor arguments (objects such as an LLM client). Any
    other class gets keyword arguments, checked against its constructor's signature; values from
    the spec (data from a file) are validated against the annotations.
    """
    where = f"{kind} spec {spec.describe()} ({class_path(cls)})"
    given = {**spec.config, **overrides}
    parameters = signature_parameters(constructor)
    named = {
        name: p
        for name, p in parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in ("self", "cls")
    }
    config_class = config_model(cls)
    if config_class is not None and "config" in named and "config" not in given:
        fields = config_class.model_fields
        others = {k: v for k, v in overrides.items() if k not in fields}
        unknown = [k for k in spec.config if k not in fields]
        unknown += [k for k in others if k not in named or k == "config"]
        if unknown:
            known = ", ".join(fields) or "none"
            raise ConfigError(f"{where}: unknown config field {unknown[0]!r}; known fields: {known}")
        try:
            config = config_class.model_validate({k: v for k, v in given.items() if k in fields})
        except ValidationError as exc:
            field, message = first_error(exc)
            raise ConfigError(f"{where}: config field {field!r}: {message}") from None
        return (config,), others
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = [name for name in given if name not in named]
    if unknown and not open_ended:
        known = ", ".join(named) or "none"
        raise ConfigError(f"{where}: unknown config field {unknown[0]!r}; known fields: {known}")
    missing = [n for n, p in named.items() if p.default is p.empty and n not in given and n not in supplied]
    if missing:
        raise ConfigError(f"{where}: config field {missing[0]!r} is required")
    typed = _typed(where, constructor, named, {k: v for k, v in spec.config.items() if k not in overrides})
    return (), {**given, **typed}


def _typed(
    where: str, constructor: Any, named: Mapping[str, inspect.Parameter], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The values of ``config`` (data from a file) validated against the constructor's annotations.

    An annotation that cannot be resolved at run time (a name imported only for type checkers) is
    left to the constructor to judge.
    """
    if isinstance(constructor, type):  # annotations are read in the module that defines __init__
        owner = next((k for k in constructor.__mro__ if "__init__" in vars(k)), constructor)
        module = sys.modules.get(owner.__module__)
    else:
        module = sys.modules.get(getattr(constructor, "__module__", ""))
    namespace = dict(vars(module)) if module is not None else {}
    fields: dict[str, Any] = {}
    for name in config:
        annotation = named[name].annotation if name in named else inspect.Parameter.empty
        if annotation is inspect.Parameter.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # an annotation of the class's own code
            except Exception:  # unresolvable here (a type-checking-only name): the constructor judges
                continue
        fields[name] = (annotation, ...)
    if not fields:
        return {}
    try:
        model = create_model("SpecConfig", __config__=ConfigDict(arbitrary_types_allowed=True), **fields)
    except Exception:  # an annotation pydantic cannot express: the constructor judges the value
        return {}
    try:
        checked = model.model_validate({name: config[name] for name in fields})
    except ValidationError as exc:
        field, message = first_error(exc)
        raise ConfigError(f"{where}: config field {field!r}: {message}") from None
    return {name: getattr(checked, name) for name in fields}


def signature_parameters(constructor: Any) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(constructor).parameters
    except (TypeError, ValueError):  # a builtin without a signature: accept whatever it is given
        return {"kwargs": inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)}


def config_model(cls: type) -> type[BaseModel] | None:
    found = getattr(cls, "config_class", None)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "(config)"
    return field, str(error["msg"])
