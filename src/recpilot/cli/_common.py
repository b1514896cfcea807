"""Helpers shared by CLI commands: output, progress, model specs."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from recpilot.errors import ConfigError
from recpilot.models.base import Recommender
from recpilot.models.registry import ModelSpec, build_model

# Human-readable output and progress go to stderr so `--json` stdout stays machine-clean.
err_console = Console(stderr=True)


def out_console() -> Console:
    """A console on the current stdout (looked up per call so tests can capture it)."""
    return Console(file=sys.stdout, soft_wrap=True)


def print_json(payload: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default, allow_nan=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextmanager
def status(message: str, *, quiet: bool) -> Iterator[None]:
    """A spinner on stderr while a long step runs (silent when ``quiet``)."""
    if quiet or not err_console.is_terminal:
        yield
        return
    with err_console.status(message):
        yield


def parse_value(raw: str) -> Any:
    """Parse a ``--param`` value: JSON when it parses (numbers, booleans, lists), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_params(params: Sequence[str], model_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``["ease.l2=300", "factors=64"]`` into per-model overrides.

    A key without a ``model.`` prefix applies to every model given (it must be valid for each).
    """
    overrides: dict[str, dict[str, Any]] = {name: {} for name in model_names}
    for param in params:
        key, sep, raw = param.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {param!r} must look like MODEL.FIELD=VALUE or FIELD=VALUE")
        model, dot, field = key.rpartition(".")
        targets = [model] if dot else list(model_names)
        for target in targets:
            if target not in overrides:
                raise ConfigError(
                    f"--param {param!r} names model {target!r}, which is not among {list(model_names)}"
                )
            overrides[target][field] = parse_value(raw)
    return overrides


def load_config_file(path: Path) -> dict[str, ModelSpec]:
    """Read model specs from a TOML or JSON file: ``[models.NAME] class = "..."; config = {...}``."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {exc}"
        ) from None
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"config file {path} needs a [models.NAME] table with a 'class' for each model")
    specs: dict[str, ModelSpec] = {}
    for name, spec in models.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"config file {path}: models.{name} must be a table")
        try:
            specs[name] = ModelSpec.model_validate({"class": name, **spec})
        except ValueError as exc:
            raise ConfigError(f"config file {path}: models.{name}: {exc}") from None
    return specs


def build_models(
    names: Sequence[str], params: Sequence[str], config: Path | None = None
) -> dict[str, Recommender[Any]]:
    """Build the named models (from a config file when given) with ``--param`` overrides applied."""
    specs = load_config_file(config) if config is not None else {}
    if not names:
        names = list(specs)
    overrides = parse_params(params, names)
    models: dict[str, Recommender[Any]] = {}
    for name in names:
        spec = specs.get(name) or ModelSpec.model_validate({"class": name})
        models[name] = build_model(spec, **overrides[name])
    return models


def split_csv(raw: str) -> list[str]:
    """Split a comma-separated option, dropping blanks."""
    return [part.strip() for part in raw.split(",") if part.strip()]
