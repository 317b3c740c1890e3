"""Turn the selected dbt graph into Airflow tasks: a setup task, one task group per node, tests per TestBehavior.

For each selected model, seed and snapshot there is a task group named after the node holding its ``run`` (or
``seed`` / ``snapshot``) task and, with :attr:`TestBehavior.AFTER_EACH`, a ``test`` task that runs the node's tests
before anything downstream starts (as ``dbt build`` does). Ephemeral models get no task: dependencies pass through
them. Parse-time only: nothing here touches the network or runs dbt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, TaskGroup

from cosmos_remote.airflow._options import DbtOptions
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig, TestBehavior
from cosmos_remote.dbt.manifest import DbtGraph, DbtNode
from cosmos_remote.dbt.selection import select_nodes
from cosmos_remote.operators._artifacts import ArtifactSource
from cosmos_remote.operators.dbt_tests import TestSpec
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator
from cosmos_remote.operators.setup import DbtSetupOperator

__all__ = ["SETUP_TASK_ID", "BuiltGraph", "DependencyCycleError", "build_tasks", "check_acyclic"]

SETUP_TASK_ID = "dbt_setup"
_VERB = {"model": "run", "seed": "seed", "snapshot": "snapshot"}


@dataclass(frozen=True)
class BuiltGraph:
    """What :func:`build_tasks` created."""

    setup: BaseOperator
    node_tasks: Mapping[str, BaseOperator]
    test_tasks: Mapping[str, BaseOperator]


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


class DependencyCycleError(ValueError):
    """The manifest's dependencies among the selected nodes form a cycle; the message lists the nodes on it."""


def check_acyclic(parents: Mapping[str, set[str]]) -> None:
    """Raise :class:`DependencyCycleError` naming a cycle in ``parents`` (node -> the nodes it waits for)."""
    selected = set(parents)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(selected):
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(start, sorted(parents[start]))]
        state[start] = 1
        path.append(start)
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
                raise DependencyCycleError(
                    f"the dbt manifest has a dependency cycle: {' -> '.join(cycle)}; rebuild it with `dbt parse` "
                    "(dbt itself refuses cyclic projects)"
                )
            if not state.get(parent):
                state[parent] = 1
                path.append(parent)
                stack.append((parent, sorted(parents[parent])))


def build_tasks(
    *,
    graph: DbtGraph,
    project_config: ProjectConfig,
    profile_config: ProfileConfig,
    execution_config: ExecutionConfig,
    render_config: RenderConfig,
    scope_group: str | None,
    options: DbtOptions,
) -> BuiltGraph:
    """Create the tasks in the current DAG / task group context and wire them."""
    args: dict[str, Any] = dict(options.node_args)
    if not options.emit_datasets:
        args.setdefault("outlets", [])
    selected = select_nodes(graph, select=render_config.select, exclude=render_config.exclude)
    parents_of = {uid: _task_parents(graph, uid, selected) for uid in selected}
    check_acyclic(parents_of)
    runnable = sorted(
        (graph.nodes[uid] for uid in selected if not graph.nodes[uid].is_ephemeral), key=lambda n: n.unique_id
    )
    setup = DbtSetupOperator(
        task_id=SETUP_TASK_ID,
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        select=tuple(render_config.select),
        exclude=tuple(render_config.exclude),
        nodes=tuple(n.unique_id for n in runnable),
        scope_group=scope_group,
        project_dir=options.run_project_dir,
        **options.setup_args,
    )
    artifacts = ArtifactSource(setup_task_id=setup.task_id)
    names = _group_names(runnable)
    node_tasks: dict[str, BaseOperator] = {}
    test_tasks: dict[str, BaseOperator] = {}
    attachments = graph.test_attachments()
    tests_by_node: dict[str, list[DbtNode]] = {n.unique_id: [] for n in runnable}
    for test_id, owner in sorted(attachments.items()):
        if owner in tests_by_node:
            tests_by_node[owner].append(graph.nodes[test_id])

    def test_operator(node: DbtNode, task_id: str) -> BaseOperator:
        specs = [
            TestSpec(unique_id=t.unique_id, name=t.name, severity=t.severity) for t in tests_by_node[node.unique_id]
        ]
        return DbtTestAirflowAsyncFactoryOperator(
            task_id=task_id, node=node, tests=specs, profile_config=profile_config, artifacts=artifacts, **args
        )

    for node in runnable:
        with TaskGroup(group_id=names[node.unique_id]):
            node_tasks[node.unique_id] = DbtRunAirflowAsyncFactoryOperator(
                task_id=_VERB[node.resource_type], node=node, profile_config=profile_config, artifacts=artifacts, **args
            )
            if render_config.test_behavior == TestBehavior.AFTER_EACH and tests_by_node[node.unique_id]:
                test_tasks[node.unique_id] = test_operator(node, "test")
                node_tasks[node.unique_id] >> test_tasks[node.unique_id]

    for node in runnable:
        parents = parents_of[node.unique_id]
        for parent in parents:
            (test_tasks.get(parent) or node_tasks[parent]) >> node_tasks[node.unique_id]
        if not parents:
            setup >> node_tasks[node.unique_id]
        if node.unique_id in test_tasks:
            for test in tests_by_node[node.unique_id]:
                for other in _task_parents(graph, test.unique_id, selected) - {node.unique_id}:
                    node_tasks[other] >> test_tasks[node.unique_id]

    if render_config.test_behavior == TestBehavior.AFTER_ALL:
        tested = [n for n in runnable if tests_by_node[n.unique_id]]
        if tested:
            with TaskGroup(group_id="tests"):
                for node in tested:
                    test_tasks[node.unique_id] = test_operator(node, names[node.unique_id])
                    list(node_tasks.values()) >> test_tasks[node.unique_id]
    return BuiltGraph(setup=setup, node_tasks=node_tasks, test_tasks=test_tasks)
