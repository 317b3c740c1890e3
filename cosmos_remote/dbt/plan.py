"""The task plan: which dbt nodes become tasks, what each waits for, and which tests belong to it.

:func:`plan_tasks` is everything about the dbt graph that the Airflow side needs, decided once from the manifest:
the selection, the nodes that get a task (models, seeds and snapshots, never ephemeral models), their dependencies
*through* ephemeral models, a cycle check, the tests attached to each node and the other nodes those tests read, and
a task-group name per node that stays unique across packages. :mod:`cosmos_remote.airflow.build` only creates
operators from it. Parse-time only: no network, no dbt.

Example:
    >>> from cosmos_remote.dbt.manifest import DbtGraph, DbtNode
    >>> def node(name, *parents, kind="model", materialized="table"):
    ...     return DbtNode(unique_id=f"{kind}.p.{name}", resource_type=kind, name=name, package_name="p",
    ...                    original_file_path=f"models/{name}.sql", materialized=materialized, relation=None,
    ...                    depends_on=tuple(f"model.p.{p}" for p in parents), tags=(), fqn=("p", name))
    >>> graph = DbtGraph(project_name="p", dbt_version="1.11", adapter_type="bigquery", nodes={
    ...     n.unique_id: n for n in [node("a"), node("eph", "a", materialized="ephemeral"), node("b", "eph")]})
    >>> plan = plan_tasks(graph)
    >>> [(planned.group_id, sorted(planned.parents)) for planned in plan.nodes]
    [('a', []), ('b', ['model.p.a'])]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_remote.dbt.manifest import DbtGraph, DbtNode
from cosmos_remote.dbt.selection import select_nodes
from cosmos_remote.errors import DependencyCycleError

__all__ = ["DependencyCycleError", "PlannedNode", "TaskPlan", "check_acyclic", "plan_tasks"]

_VERB = {"model": "run", "seed": "seed", "snapshot": "snapshot"}


@dataclass(frozen=True)
class PlannedNode:
    """One node that becomes a task (group).

    Attributes:
        node: The dbt node.
        group_id: Its task group's id: the node's name, prefixed with its package when two packages share it.
        verb: The task's id inside the group: ``run``, ``seed`` or ``snapshot``.
        parents: The unique ids of the planned nodes it waits for (looking through ephemeral models).
        tests: The dbt tests attached to it.
        test_parents: The other planned nodes its tests read (a relationships test reads two models).
        waits_for_tests_of: The parents whose tests it waits for (as ``dbt build``: tests block downstream nodes),
            except a parent whose tests read this node or a node downstream of it (that would be a cycle: those
            tests run once both sides are built).
    """

    node: DbtNode
    group_id: str
    verb: str
    parents: frozenset[str]
    tests: tuple[DbtNode, ...]
    test_parents: frozenset[str]
    waits_for_tests_of: frozenset[str] = frozenset()

    @property
    def unique_id(self) -> str:
        return self.node.unique_id


@dataclass(frozen=True)
class TaskPlan:
    """The planned nodes in ``unique_id`` order; every ``parents`` entry is a planned node."""

    nodes: tuple[PlannedNode, ...]

    @property
    def unique_ids(self) -> tuple[str, ...]:
        return tuple(planned.unique_id for planned in self.nodes)


def plan_tasks(
    graph: DbtGraph, *, select: Sequence[str] = (), exclude: Sequence[str] = (), manifest_path: str | None = None
) -> TaskPlan:
    """The task plan of ``graph`` for a selection (dbt's ``--select`` / ``--exclude`` syntax).

    Args:
        manifest_path: The user's manifest the graph came from, or None when cosmos_remote ran ``dbt parse``
            itself (it words the hint of a cycle error).

    Raises:
        DependencyCycleError: The selected nodes' dependencies form a cycle (named in the message).
    """
    selected = select_nodes(graph, select=select, exclude=exclude)
    parents_of = {uid: _task_parents(graph, uid, selected) for uid in selected}
    if manifest_path is not None:
        hint = f"the manifest {manifest_path} is stale or was edited: rebuild it with `dbt parse`"
    else:
        hint = "dbt parsed the project without complaint, so this is a cosmos_remote bug: please report it"
    check_acyclic(parents_of, hint=hint)
    runnable = sorted((graph.nodes[uid] for uid in selected if not graph.nodes[uid].is_ephemeral), key=_unique_id)
    tests_of: dict[str, list[DbtNode]] = {n.unique_id: [] for n in runnable}
    for test_id, owner in sorted(graph.test_attachments().items()):
        if owner in tests_of:
            tests_of[owner].append(graph.nodes[test_id])
    names = _group_names(runnable)
    test_parents = {
        n.unique_id: {p for t in tests_of[n.unique_id] for p in _task_parents(graph, t.unique_id, selected)}
        - {n.unique_id}
        for n in runnable
    }
    # Nodes a parent's tests must not block: the tests' other parents and everything upstream of them.
    unblocked = {uid: _upstream(parents_of, reads) for uid, reads in test_parents.items() if reads}
    planned = []
    for node in runnable:
        parents = parents_of[node.unique_id]
        waits = {p for p in parents if tests_of.get(p) and node.unique_id not in unblocked.get(p, ())}
        planned.append(
            PlannedNode(
                node=node,
                group_id=names[node.unique_id],
                verb=_VERB[node.resource_type],
                parents=frozenset(parents),
                tests=tuple(tests_of[node.unique_id]),
                test_parents=frozenset(test_parents[node.unique_id]),
                waits_for_tests_of=frozenset(waits),
            )
        )
    return TaskPlan(nodes=tuple(planned))


def _upstream(parents_of: Mapping[str, set[str]], starts: set[str]) -> set[str]:
    """``starts`` and every node upstream of them."""
    found: set[str] = set()
    stack = list(starts)
    while stack:
        uid = stack.pop()
        if uid not in found:
            found.add(uid)
            stack.extend(parents_of.get(uid, ()))
    return found


def _unique_id(node: DbtNode) -> str:
    return node.unique_id


def _group_names(nodes: list[DbtNode]) -> dict[str, str]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.name] = counts.get(node.name, 0) + 1
    return {n.unique_id: n.name if counts[n.name] == 1 else f"{n.package_name}__{n.name}" for n in nodes}


def _task_parents(graph: DbtGraph, unique_id: str, selected: set[str]) -> set[str]:
    """The selected, non-ephemeral nodes a node waits for, looking through ephemeral models."""
    found: set[str] = set()
    stack = list(graph.nodes[unique_id].depends_on)
    seen: set[str] = set()
    while stack:
        parent = stack.pop()
        if parent in seen or parent not in graph.nodes:
            continue
        seen.add(parent)
        node = graph.nodes[parent]
        if node.is_ephemeral:
            stack.extend(node.depends_on)
        elif parent in selected:
            found.add(parent)
    return found


def check_acyclic(parents: Mapping[str, set[str]], *, hint: str) -> None:
    """Raise :class:`DependencyCycleError` naming a cycle in ``parents`` (node -> the nodes it waits for)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(parents):
        if state.get(start):
            continue
        path: list[str] = [start]
        stack: list[tuple[str, list[str]]] = [(start, sorted(parents[start]))]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            parent = pending.pop()
            if state.get(parent) == 1:
                cycle = [*path[path.index(parent) :], parent]
                raise DependencyCycleError(f"the dbt manifest has a dependency cycle: {' -> '.join(cycle)}; {hint}")
            if not state.get(parent):
                state[parent] = 1
                path.append(parent)
                stack.append((parent, sorted(parents[parent])))
