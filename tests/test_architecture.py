"""The layout rules of docs/architecture.md hold for the package as it is: no import cycle between subpackages,
no module over 400 lines, no private module or name used outside the subpackage that owns it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "cosmos_remote"
#: Runs in dbt's process, loaded by file path; never imports cosmos_remote.
_CAPTURE = PACKAGE / "backends" / "bigquery" / "capture"


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if _CAPTURE in path.parents:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, at any depth (function-level imports count), except under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for orelse in child.orelse for n in [orelse, *_runtime_nodes(orelse)])
            continue
        yield child
        yield from _runtime_nodes(child)


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """``(module, names)`` of every run-time ``import`` / ``from ... import`` of cosmos_remote."""
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cosmos_remote"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cosmos_remote"):
                    yield alias.name, []


def owner(module: str) -> str:
    """The subpackage a module belongs to (``cosmos_remote.artifacts``), or the top-level module itself; each
    backend folder is a subpackage of its own (``cosmos_remote.backends.bigquery``)."""
    parts = module.split(".")
    if parts[1:2] == ["backends"] and len(parts) > 2 and (PACKAGE / "backends" / parts[2]).is_dir():
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in modules() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_private_modules_and_names_stay_inside_their_subpackage() -> None:
    leaks = []
    for name, path in modules():
        for target, names in imports(path):
            private = [part for part in target.split(".") if part.startswith("_") and part != "__init__"]
            if private and owner(target) != owner(name):
                leaks.append(f"{name} imports {target}")
            for imported in names:
                if imported.startswith("_") and target != name and owner(target) != owner(name):
                    leaks.append(f"{name} imports {target}.{imported}")
    assert leaks == []


def test_subpackages_import_each_other_without_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for name, path in modules():
        source = owner(name)
        for target, _ in imports(path):
            if owner(target) != source and owner(target) != "cosmos_remote":
                edges.setdefault(source, set()).add(owner(target))
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert cycles == []
