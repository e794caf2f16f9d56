"""The packages form layers: each imports only those below it, and none imports in a cycle.

    stde_core  <  estimators, problems  <  stde_bench  <  benchmarks

Read from the source with ``ast`` (every ``import`` and ``from ... import``, at module level
or inside a function), so a late import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"stde_core": 0, "estimators": 1, "problems": 1, "stde_bench": 2, "benchmarks": 3}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages of this project that the file ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names} & set(LAYER)
    return found


def package_graph() -> dict[str, set[str]]:
    """package -> the other packages of this project it imports."""
    return {
        package: set().union(*(imported_packages(p) for p in (ROOT / package).rglob("*.py")))
        - {package}
        for package in LAYER
    }


@pytest.mark.parametrize("package", list(LAYER))
def test_imports_only_lower_layers(package):
    above = {p for p in package_graph()[package] if LAYER[p] >= LAYER[package]}
    assert not above, f"{package} imports {sorted(above)}, which are not below it"


def test_no_import_cycle():
    graph = package_graph()

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(
            n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start]
        )

    cycles = [p for p in graph if reaches(p, p)]
    assert not cycles, f"import cycles through {cycles}: {graph}"


def test_the_detector_sees_a_late_import(tmp_path):
    """A guard on the test itself: an import inside a function is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from stde_bench.cell import build\n    import problems\n")
    assert imported_packages(module) == {"stde_bench", "problems"}


def test_the_report_package_stays_small():
    """The renderer of the Markdown, LaTeX and plots stays within its budget of lines (the
    tidy frame's sources, the provenance and the page live beside it, not in it)."""
    lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "stde_bench/report").glob("*.py"))
    assert lines <= 1300, f"stde_bench/report/ is {lines} lines (at most 1,300)"
