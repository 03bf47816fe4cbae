"""The package floors (docs/layout.md): no import runs back up.

Every `ipcbench` import in the package, at module level or inside a function, is read
from the source with `ast` and checked against FLOORS: a package may import only itself
and the packages listed for it. The measuring floors also never import pandas, scipy or
matplotlib at module level (a harness holding them forks ~10x slower; the runtime check
is tests/test_lean_harness.py): where a kind or a statistic needs one, it imports it
inside the function that does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ipcbench"

# package -> the packages it may import besides itself. The harness side (payload ...
# harness) and the analysis side (analysis, plotting, render) meet only in core, system
# and the mechanisms' metadata (names and descriptions, for legends and tables).
FLOORS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "core": frozenset({"system"}),
    "payload": frozenset({"system", "core"}),
    "mechanisms": frozenset({"system", "core", "payload"}),
    "peer": frozenset({"system", "core", "payload", "mechanisms"}),
    "harness": frozenset({"system", "core", "payload", "mechanisms", "peer"}),
    "analysis": frozenset({"system", "core"}),
    "plotting": frozenset({"system", "core", "analysis", "mechanisms"}),
    "render": frozenset({"system", "core", "analysis", "plotting", "mechanisms"}),
    "cli": frozenset({"system", "core", "payload", "mechanisms", "harness", "analysis",
                      "plotting", "render"}),
    # The Python API: the commands as functions, above every floor.
    "api": frozenset({"system", "core", "payload", "mechanisms", "harness", "analysis",
                      "plotting", "render", "cli"}),
}
MEASURING = ("system", "core", "payload", "mechanisms", "peer", "harness")
HEAVY = ("pandas", "scipy", "matplotlib")
# The package's face and `python -m ipcbench` sit above every floor.
TOP = ("__init__.py", "__main__.py")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).as_posix() not in TOP)


def _floor(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) for every import in `tree`."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] if node.module != "ipcbench" else [
                f"ipcbench.{alias.name}" for alias in node.names]
            found += [(node.lineno, name, id(node) in top) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, id(node) in top) for alias in node.names]
    return found


def test_every_module_sits_on_a_known_floor():
    assert {_floor(p) for p in _modules()} == set(FLOORS), \
        "a new top-level package or module needs its place in FLOORS (and docs/layout.md)"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_runs_back_up(path):
    floor = _floor(path)
    allowed = FLOORS[floor] | {floor}
    tree = ast.parse(path.read_text(), filename=str(path))
    upward = []
    for line, name, at_top in _imports(tree):
        parts = name.split(".")
        if parts[0] == "ipcbench" and len(parts) > 1 and parts[1] != "__version__":
            if parts[1] not in allowed:
                upward.append(f"line {line}: {name}")
        elif floor in MEASURING and parts[0] in HEAVY and at_top:
            upward.append(f"line {line}: {name} at module level on a measuring floor")
    assert not upward, f"{path.relative_to(PACKAGE)} ({floor}) imports: {'; '.join(upward)}"


def test_the_checker_sees_an_upward_import(tmp_path):
    # The rule above must be able to fail: a lower floor importing a higher one, even
    # inside a function, and a top-level pandas import on a measuring floor, are found.
    tree = ast.parse("import os\ndef f():\n    from ipcbench.harness import runner\n"
                     "import pandas\nfrom ipcbench import __version__\n")
    found = {(name, at_top) for _, name, at_top in _imports(tree)}
    assert ("ipcbench.harness", False) in found and ("pandas", True) in found
    assert ("ipcbench.__version__", True) in found
