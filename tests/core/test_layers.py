"""The package's layers import one way only (ARCHITECTURE.md): a package imports its own modules and
packages of a strictly lower rank, never a package of its own rank or above, so no two packages can
import each other. Every import counts: at module level, inside a function, under ``TYPE_CHECKING``, and
a package's lazy exports (``_LAZY``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import recpilot

PACKAGE_ROOT = Path(recpilot.__file__).parent

#: Rank of each top-level subpackage or module. Packages that share a rank are siblings: neither may
#: import the other. Ranks step by 10 so a new package slots in between without renumbering.
RANKS: dict[str, int] = {
    "errors": 0,
    "types": 0,
    "settings": 0,
    "_lazy": 0,
    "registry": 5,
    "data": 10,
    "store": 20,
    "models": 30,
    "evaluation": 40,
    "memory": 50,
    "llm": 50,
    "safety": 60,
    "ranking": 60,
    "tools": 70,
    "understanding": 80,
    "conversation": 80,
    "agent": 90,
    "simulation": 100,
    "crs": 110,
    "service": 120,
    "api": 130,
    "mcp_server": 130,
    "cli": 140,
}
#: Test doubles and conformance suites ship in the package and may use every layer.
UNRANKED = {"testing", "__init__", "__main__", "py"}
#: ``python -m`` entry points sit above every layer (they start the command line).
ENTRY_POINT = "__main__.py"


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE_ROOT).parts[0].removesuffix(".py")


def _module_name(path: Path) -> str:
    parts = ["recpilot", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    return _imports(
        path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py"
    )


def _imports(source: str, module: str, *, is_package: bool) -> set[str]:
    """Dotted names of every recpilot module ``source`` (the module ``module``) imports, relative
    imports resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found.add(origin)
            if (
                origin == "recpilot"
            ):  # ``from recpilot import agent`` imports a layer; other names are its own
                found.update(f"recpilot.{_top_level(alias.name)}" for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and _assigns_lazy(node):
            found.update(_lazy_targets(node.value))
    return {name for name in found if name.startswith("recpilot.")}


def _top_level(name: str) -> str:
    is_layer = (PACKAGE_ROOT / name).is_dir() or (PACKAGE_ROOT / f"{name}.py").is_file()
    return name if is_layer else "__init__"


def _assigns_lazy(node: ast.Assign | ast.AnnAssign) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets)


def _lazy_targets(value: ast.expr | None) -> set[str]:
    if not isinstance(value, ast.Dict):
        return set()
    return {v.value for v in value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}


def _imported_layers(path: Path) -> set[str]:
    return {name.split(".")[1] for name in _imported_modules(path)}


def _sources() -> list[Path]:
    return sorted(
        p for p in PACKAGE_ROOT.rglob("*.py") if _layer(p) not in UNRANKED and p.name != ENTRY_POINT
    )


def _package_graph() -> dict[str, set[str]]:
    """Package -> the other packages it imports (the test doubles included: they must not be imported)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path.name == ENTRY_POINT or path == PACKAGE_ROOT / "__init__.py":
            continue
        layer = _layer(path)
        graph.setdefault(layer, set()).update(_imported_layers(path) - {layer})
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of packages (depth-first search)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_every_layer_has_a_rank() -> None:
    unranked = {_layer(p) for p in _sources()} - RANKS.keys()
    assert not unranked, f"give these packages a rank in RANKS and ARCHITECTURE.md: {sorted(unranked)}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_imports_point_down(path: Path) -> None:
    layer = _layer(path)
    own = RANKS.get(layer)
    if own is None:
        pytest.fail(f"{path} is in a package without a rank")
    not_below = sorted(
        other
        for other in _imported_layers(path)
        if other != layer and other not in UNRANKED and RANKS.get(other, 99) >= own
    )
    assert not not_below, f"{path.relative_to(PACKAGE_ROOT)} imports layers not below its own: {not_below}"


def test_no_package_imports_the_test_doubles() -> None:
    users = sorted(package for package, imported in _package_graph().items() if "testing" in imported)
    assert users == [], f"these packages import recpilot.testing: {users}"


def test_no_two_packages_import_each_other() -> None:
    cycles = _cycles(_package_graph())
    assert cycles == [], "import cycles between packages: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_cycles() -> None:
    graph = {"agent": {"conversation", "tools"}, "conversation": {"agent"}, "tools": set()}
    assert _cycles(graph) == [["agent", "conversation", "agent"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"agent": {"tools"}, "tools": set()}) == []


def test_imports_are_read_wherever_they_are() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from recpilot.tools.context import ToolContext\n"
        "from ..agent import RecommenderAgent\n"
        "from . import state\n"
        "import recpilot.llm.client\n"
        "if TYPE_CHECKING:\n"
        "    from recpilot.simulation.types import Persona\n"
        "def late() -> None:\n"
        "    from recpilot.crs import run_mcr\n"
        "_LAZY: dict[str, str] = {'run_freeform': 'recpilot.cli.app'}\n"
    )
    found = _imports(source, "recpilot.conversation.feed", is_package=False)
    assert found == {
        "recpilot.tools.context",
        "recpilot.agent",
        "recpilot.conversation",
        "recpilot.llm.client",
        "recpilot.simulation.types",
        "recpilot.crs",
        "recpilot.cli.app",
    }
    assert _imports("from .. import types", "recpilot.crs", is_package=True) == {"recpilot.types"}
    assert _imports("from recpilot import __version__", "recpilot.cli.app", is_package=False) == {
        "recpilot.__init__"
    }
