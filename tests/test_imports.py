"""No import cycles in the package: every import counts, also one inside a function or under
TYPE_CHECKING (a cycle closed lazily is still a knot: neither module can be read, tested or moved
without the other). ``from package import name`` imports the package's ``__init__`` unless
``name`` is a submodule."""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

import pytest_mobiledl

PACKAGE = Path(pytest_mobiledl.__file__).parent


def modules(root: Path) -> dict[str, Path]:
    """Module name (relative to the package) → file; symlinked folders are not followed."""
    found = {}
    for folder, _, files in os.walk(root):
        for file in files:
            if file.endswith(".py"):
                parts = list((Path(folder) / file).relative_to(root).with_suffix("").parts)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = Path(folder) / file
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    """Each module's imports of the package's modules, by names relative to the package ("" is its __init__)."""
    files = modules(root)
    full = {(f"{package}.{name}" if name else package): name for name in files}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        here = f"{package}.{name}" if name else package
        base = here if path.name == "__init__.py" else here.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {full[a.name] for a in node.names if a.name in full}
            elif isinstance(node, ast.ImportFrom):
                origin = base
                for _ in range(node.level - 1):
                    origin = origin.rpartition(".")[0]
                source = (f"{origin}.{node.module}" if node.module else origin) if node.level else node.module or ""
                for alias in node.names:
                    if f"{source}.{alias.name}" in full:
                        found.add(full[f"{source}.{alias.name}"])
                    elif source in full:
                        found.add(full[source])
        edges[name] = found - {name}
    return edges


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module, as one cycle through it (a → … → a)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_loop(edges, component))

    for node in sorted(edges):
        if node not in order:
            visit(node)
    return found


def _loop(edges: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, to name it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(edges[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    raise AssertionError(f"{component} is not a cycle")


def _described(cycle: list[str]) -> str:
    return " → ".join(name or "__init__" for name in cycle)


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(graph(PACKAGE, "pytest_mobiledl"))
    assert not found, "import cycles: " + "; ".join(_described(c) for c in found)


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("files", "expected"), [
    # a lazy import inside a function closes a cycle as surely as one at the top
    ({"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "def f():\n    from pkg.a import x\n"},
     [["a", "b", "a"]]),
    # TYPE_CHECKING imports count; a relative import is resolved; the __init__ is a module too
    ({"__init__.py": "from pkg.sub import c\n", "sub/__init__.py": "", "sub/c.py":
      "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import helper\n", "helper.py": "import pkg\n"},
     [["", "sub.c", "helper", ""]]),
    # ``from package import name`` reaches the package's __init__, which imports the submodule back
    ({"__init__.py": "", "s/__init__.py": "from pkg.s.x import run\n", "s/x.py": "from pkg.s import Context\n"},
     [["s", "s.x", "s"]]),
    # a submodule named in ``from package import`` is that module, not the __init__
    ({"__init__.py": "", "s/__init__.py": "from pkg.s import x\n", "s/x.py": "from pkg.s import y\n", "s/y.py": ""},
     []),
])
def test_cycles_are_found_and_named(tmp_path: Path, files: dict[str, str], expected: list[list[str]]) -> None:
    assert cycles(graph(_package(tmp_path / "pkg", files), "pkg")) == expected


def test_a_new_cycle_fails_with_its_modules_named() -> None:
    edges = graph(PACKAGE, "pytest_mobiledl")
    edges["modelspec"] = edges["modelspec"] | {"zoo"}  # the leaf importing the parent side
    described = [_described(c) for c in cycles(edges)]
    assert described == ["conversion → modelspec → zoo → conversion"]


def test_the_model_layer_is_layered() -> None:
    """The leaf imports nothing of the model layer; the conversion process never imports the
    parent side (whose plumbing would otherwise key every artifact)."""
    edges = graph(PACKAGE, "pytest_mobiledl")
    assert edges["modelspec"] <= {"tensors"}
    reached, todo = set(), ["conversion"]
    while todo:
        for nxt in edges[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    assert "zoo" not in reached and "conversion" not in reached
