"""The package's layers import one way only (ARCHITECTURE.md): a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import recpilot

PACKAGE_ROOT = Path(recpilot.__file__).parent

#: Rank of each top-level subpackage or module; a module may import only ranks <= its own.
RANKS: dict[str, int] = {
    "errors": 0,
    "types": 0,
    "settings": 0,
    "_lazy": 0,
    "data": 1,
    "store": 2,
    "models": 3,
    "evaluation": 4,
    "memory": 5,
    "llm": 5,
    "ranking": 6,
    "tools": 6,
    "safety": 6,
    "agent": 7,
    "conversation": 7,
    "simulation": 8,
    "service": 9,
    "api": 10,
    "mcp_server": 10,
    "cli": 11,
}
#: Test doubles and conformance suites ship in the package and may use every layer.
UNRANKED = {"testing", "__init__", "__main__", "py"}
#: ``python -m`` entry points sit above every layer (they start the command line).
ENTRY_POINT = "__main__.py"


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE_ROOT).parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "recpilot" and len(parts) > 1:
                found.add(parts[1])
    return found


def _sources() -> list[Path]:
    return sorted(
        p for p in PACKAGE_ROOT.rglob("*.py") if _layer(p) not in UNRANKED and p.name != ENTRY_POINT
    )


def test_every_layer_has_a_rank() -> None:
    unranked = {_layer(p) for p in _sources()} - RANKS.keys()
    assert not unranked, f"give these packages a rank in RANKS and ARCHITECTURE.md: {sorted(unranked)}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_imports_point_down(path: Path) -> None:
    own = RANKS.get(_layer(path))
    if own is None:
        pytest.fail(f"{path} is in a package without a rank")
    upward = sorted(
        layer for layer in _imported_layers(path) if layer not in UNRANKED and RANKS.get(layer, 99) > own
    )
    assert not upward, f"{path.relative_to(PACKAGE_ROOT)} imports higher layers: {upward}"
