"""xraylib's modules import one another one way: no module imports, directly or through
others, a module that imports it back (imports inside functions and under ``TYPE_CHECKING``
count too)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import xraylib

PACKAGE = Path(xraylib.__file__).parent


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The xraylib modules (names in ``modules``; ``xraylib`` is the package itself) that the
    source file ``path`` imports anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            base = ".".join(filter(None, ["xraylib", module])) if node.level else module
            for alias in node.names:  # a submodule, else a name defined in module `base`
                name = f"{base}.{alias.name}"
                found.add(name if name in modules else base)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports."""
    files = {
        "xraylib" if path.stem == "__init__" else f"xraylib.{path.stem}": path
        for path in PACKAGE.glob("*.py")
    }
    return {name: imported_modules(path, set(files)) - {name} for name, path in files.items()}


def test_the_import_graph_is_read_from_the_sources():
    graph = import_graph()
    assert "xraylib.cluster" in graph["xraylib.tuning"]
    assert "xraylib.config" in graph["xraylib.data"]
    assert "xraylib.errors" in graph["xraylib.cluster"]  # from xraylib.errors import TuningError


def test_no_module_imports_itself_back_through_others():
    try:
        order = list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as circle:
        raise AssertionError(f"import circle: {' -> '.join(circle.args[1])}") from None
    assert order.index("xraylib.config") < order.index("xraylib.data")
