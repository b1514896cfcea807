"""Lazy package exports (PEP 562): a package names what it exports, and a name's module is imported on
first use. Packages whose parts pull in heavy dependencies (pydantic-ai, Ray) or a higher layer use it
to keep ``import recpilot.<package>`` cheap and free of import cycles."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], lazy: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: The package's ``__name__`` (for error messages).
        namespace: The package's ``globals()``: a loaded name is cached there.
        lazy: Public name -> the module that defines it.
    """

    def attribute(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *lazy})

    return attribute, names
