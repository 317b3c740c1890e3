"""dbt node selection for the common cases, evaluated on the manifest graph at DAG parse time.

Supported, as in dbt: space-separated terms are a union, comma-joined atoms an intersection; an atom is a name or
``method:value`` with the methods ``tag``, ``path``, ``resource_type``, ``config.materialized``, ``fqn``,
``package``; ``+`` before (ancestors) and after (descendants) an atom, optionally with a depth (``2+orders+1``); and
``@atom`` (the atom, its descendants, and their ancestors). ``*`` and ``?`` glob in values. Tests are not selected
directly: they follow the models they test (see :mod:`cosmos_remote.dbt.plan`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cosmos_remote.dbt.manifest import DbtGraph, DbtNode
from cosmos_remote.errors import SelectionError

__all__ = ["SelectionError", "select_nodes"]

_ATOM: Final = re.compile(
    r"^(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?(?P<body>[^+]+?)(?:(?P<down>\+)(?P<down_depth>\d*))?$"
)


@dataclass(frozen=True)
class _Atom:
    text: str
    method: str
    value: str
    parents: int | None  # None: no ancestors; -1: all
    children: int | None
    at: bool


def _parse_atom(text: str) -> _Atom:
    match = _ATOM.match(text)
    if not match:
        raise SelectionError(f"cannot parse the selector {text!r}; see the dbt node selection syntax")
    body = match.group("body")
    method, _, value = body.partition(":") if ":" in body else ("", "", body)
    if not value:
        raise SelectionError(f"selector {text!r} has an empty value")

    def depth(flag: str | None, digits: str | None) -> int | None:
        if not flag:
            return None
        return int(digits) if digits else -1

    return _Atom(
        text=text,
        method=method or "default",
        value=value,
        parents=depth(match.group("up"), match.group("up_depth")),
        children=depth(match.group("down"), match.group("down_depth")),
        at=bool(match.group("at")),
    )


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _path_matches(pattern: str, node: DbtNode) -> bool:
    path = node.original_file_path
    pattern = pattern.rstrip("/")
    return _glob(pattern, path) or path.startswith(pattern + "/") or _glob(pattern, path.rsplit(".", 1)[0])


def _fqn_matches(pattern: str, node: DbtNode) -> bool:
    parts = pattern.split(".")
    fqn = node.fqn
    for start in range(len(fqn)):
        window = fqn[start : start + len(parts)]
        if len(window) == len(parts) and all(_glob(p, f) for p, f in zip(parts, window, strict=True)):
            return start == 0 or len(parts) == 1
    return False


_METHODS: Final[dict[str, Callable[[str, DbtNode], bool]]] = {
    "tag": lambda v, n: any(_glob(v, t) for t in n.tags),
    "path": _path_matches,
    "file": lambda v, n: _glob(v, n.original_file_path.rsplit("/", 1)[-1]),
    "resource_type": lambda v, n: n.resource_type == v,
    "config.materialized": lambda v, n: n.materialized == v,
    "fqn": _fqn_matches,
    "package": lambda v, n: n.package_name == v,
    "default": lambda v, n: _glob(v, n.name) or _fqn_matches(v, n) or ("/" in v and _path_matches(v, n)),
}


def _walk(start: Iterable[str], edges: dict[str, list[str]], depth: int) -> set[str]:
    seen: set[str] = set()
    frontier = set(start)
    level = 0
    while frontier and (depth < 0 or level < depth):
        nxt = {other for uid in frontier for other in edges.get(uid, ()) if other not in seen}
        seen |= nxt
        frontier = nxt
        level += 1
    return seen


def _evaluate(atom: _Atom, graph: DbtGraph, parents: dict[str, list[str]], children: dict[str, list[str]]) -> set[str]:
    matcher = _METHODS.get(atom.method)
    if matcher is None:
        raise SelectionError(
            f"selector {atom.text!r}: method {atom.method!r} is not supported; use one of "
            f"{sorted(m for m in _METHODS if m != 'default')} or a node name"
        )
    base = {uid for uid, node in graph.nodes.items() if node.resource_type != "test" and matcher(atom.value, node)}
    result = set(base)
    if atom.at:
        down = base | _walk(base, children, -1)
        return down | _walk(down, parents, -1)
    if atom.parents is not None:
        result |= _walk(base, parents, atom.parents)
    if atom.children is not None:
        result |= _walk(base, children, atom.children)
    return result


def _expression(
    terms: Sequence[str], graph: DbtGraph, parents: dict[str, list[str]], children: dict[str, list[str]]
) -> set[str]:
    selected: set[str] = set()
    for term in terms:
        for union_part in term.split():
            atoms = [_parse_atom(a) for a in union_part.split(",") if a]
            sets = [_evaluate(a, graph, parents, children) for a in atoms]
            selected |= set.intersection(*sets) if sets else set()
    return selected


def select_nodes(graph: DbtGraph, *, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> set[str]:
    """The unique ids of the models, seeds and snapshots that ``select`` minus ``exclude`` picks.

    Raises:
        SelectionError: a selector cannot be parsed, uses an unknown method, or the result is empty.
    """
    parents = {uid: [p for p in node.depends_on if p in graph.nodes] for uid, node in graph.nodes.items()}
    children = graph.children()
    runnable = {uid for uid, node in graph.nodes.items() if node.resource_type != "test"}
    chosen = _expression(select, graph, parents, children) & runnable if select else set(runnable)
    if exclude:
        chosen -= _expression(exclude, graph, parents, children)
    if not chosen:
        raise SelectionError(
            f"select={list(select)!r} exclude={list(exclude)!r} matches no model, seed or snapshot of project "
            f"{graph.project_name!r}; check the names (`dbt ls --select ...` shows what dbt selects)"
        )
    return chosen
