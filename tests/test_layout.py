"""The layout of DESIGN.md section 2, read from the source: floors, no circles, small files.

The import graph is built with ``ast`` from every import in ``src/desk`` (top level, inside
functions, and under ``if TYPE_CHECKING:``). The one import that does not count is a
TYPE_CHECKING-only import of ``typing.Protocol`` classes: it states a shape, not a dependency.

``python -m tests.test_layout`` prints the package graph (package -> the packages it imports).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 500

# Floors from the bottom (DESIGN.md section 2). An import points down or sideways, never up.
FLOORS: dict[str, int] = {
    "desk": 0,  # the root package: the version only
    "core": 0,
    "market": 0,
    "net": 1,
    "feeds": 2,
    "sim": 2,
    "signals": 2,
    "execution": 2,
    "backtest": 2,
    "storage": 2,
    "bridge": 3,
    "config": 3,
    "engine": 4,
    "gateway": 4,
    "clients": 5,
    "app": 6,
    "screens": 6,
    "widgets": 6,
    "commands": 6,
    "messages": 6,
    "keymap": 6,
    "terminal": 6,
    "cli": 7,
}
THEMES = "desk.themes"
UI = {name for name, floor in FLOORS.items() if floor == FLOORS["app"]}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "desk").rglob("*.py"))}


@cache
def _protocols(module: str) -> frozenset[str]:
    """Names of the classes in ``module`` that are typing Protocols."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                target = base.value if isinstance(base, ast.Subscript) else base
                if ast.unparse(target) in ("Protocol", "typing.Protocol"):
                    names.add(node.name)
    return frozenset(names)


def _is_type_checking(node: ast.If) -> bool:
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for the desk imports of one statement."""
    known = modules()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "desk":
                yield alias.name, None
        return
    if node.level or not node.module or node.module.split(".")[0] != "desk":
        return
    for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        if submodule in known:
            yield submodule, None
        else:
            yield node.module, alias.name


def _imports(module: str) -> Iterator[str]:
    """Every desk module that ``module`` depends on."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))

    def walk(node: ast.AST, type_checking: bool) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    yield from walk_stmt(stmt, True)
                for stmt in child.orelse:
                    yield from walk_stmt(stmt, type_checking)
            else:
                yield from walk_stmt(child, type_checking)

    def walk_stmt(node: ast.AST, type_checking: bool) -> Iterator[str]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, name in _targets(node):
                if target.startswith(THEMES):
                    continue  # the top-level themes/ folder, installed as desk.themes: data
                if target not in modules():
                    raise AssertionError(f"{module} imports {target}, which does not exist")
                if type_checking and name is not None and name in _protocols(target):
                    continue
                yield target
        yield from walk(node, type_checking)

    yield from walk(tree, False)


@cache
def module_graph() -> dict[str, frozenset[str]]:
    return {m: frozenset(_imports(m)) - {m} for m in modules()}


def package_of(module: str) -> str:
    """The top-level part of desk a module belongs to (``desk.feeds.okx.feed`` -> ``feeds``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in module_graph().items():
        for target in targets:
            if package_of(target) != package_of(module):
                graph[package_of(module)].add(package_of(target))
    return graph


def cycles(graph: dict[str, frozenset[str]] | dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_package_has_a_floor() -> None:
    missing = {package_of(m) for m in modules() if m != "desk"} - FLOORS.keys()
    assert missing == set(), f"give {sorted(missing)} a floor in FLOORS and DESIGN.md section 2"


def test_no_two_packages_import_each_other() -> None:
    assert cycles(package_graph()) == []


def test_no_module_cycle() -> None:
    assert cycles(module_graph()) == []


def test_imports_point_down_or_sideways() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in module_graph().items()
        for target in targets
        if module != "desk" and FLOORS[package_of(target)] > FLOORS[package_of(module)]
    )
    assert upward == []


def test_only_the_ui_imports_textual() -> None:
    offenders = []
    for module, path in modules().items():
        if package_of(module) in UI:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "textual" for n in names):
                offenders.append(module)
    assert offenders == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_file_is_small(module: str) -> None:
    lines = len(modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by job"


def test_the_checker_sees_a_cycle() -> None:
    """The cycle finder itself: a planted circle is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


if __name__ == "__main__":
    for package, targets in sorted(package_graph().items()):
        print(f"{package:10} -> {' '.join(sorted(targets))}")
