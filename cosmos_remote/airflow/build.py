"""Create the Airflow tasks of a task plan (:mod:`cosmos_remote.dbt.plan`): a setup task, one task group per
planned node, tests per TestBehavior.

Each planned node gets a task group holding its ``run`` (or ``seed`` / ``snapshot``) task and, with
:attr:`TestBehavior.AFTER_EACH`, a ``test`` task that runs the node's tests before anything downstream starts (as
``dbt build`` does); :attr:`TestBehavior.AFTER_ALL` puts every test task in a ``tests`` group after all nodes.
Parse-time only: nothing here touches the network or runs dbt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, TaskGroup

from cosmos_remote.airflow._options import DbtOptions
from cosmos_remote.artifacts.reference import ArtifactSource
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig, TestBehavior
from cosmos_remote.dbt.manifest import DbtGraph
from cosmos_remote.dbt.plan import PlannedNode, plan_tasks
from cosmos_remote.operators.dbt_tests import TestSpec
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator
from cosmos_remote.operators.setup import DbtSetupOperator

__all__ = ["SETUP_TASK_ID", "BuiltGraph", "build_tasks"]

SETUP_TASK_ID = "dbt_setup"


@dataclass(frozen=True)
class BuiltGraph:
    """What :func:`build_tasks` created."""

    setup: BaseOperator
    node_tasks: Mapping[str, BaseOperator]
    test_tasks: Mapping[str, BaseOperator]


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
    manifest = project_config.manifest_path
    plan = plan_tasks(
        graph,
        select=render_config.select,
        exclude=render_config.exclude,
        manifest_path=str(manifest) if manifest is not None else None,
    )
    setup = DbtSetupOperator(
        task_id=SETUP_TASK_ID,
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        select=tuple(render_config.select),
        exclude=tuple(render_config.exclude),
        nodes=plan.unique_ids,
        scope_group=scope_group,
        project_dir=options.run_project_dir,
        **options.setup_args,
    )
    artifacts = ArtifactSource(setup_task_id=setup.task_id)
    node_tasks: dict[str, BaseOperator] = {}
    test_tasks: dict[str, BaseOperator] = {}

    def test_operator(planned: PlannedNode, task_id: str) -> BaseOperator:
        specs = [TestSpec(unique_id=t.unique_id, name=t.name, severity=t.severity) for t in planned.tests]
        return DbtTestAirflowAsyncFactoryOperator(
            task_id=task_id, node=planned.node, tests=specs, profile_config=profile_config, artifacts=artifacts, **args
        )

    after_each = render_config.test_behavior == TestBehavior.AFTER_EACH
    for planned in plan.nodes:
        with TaskGroup(group_id=planned.group_id):
            run = DbtRunAirflowAsyncFactoryOperator(
                task_id=planned.verb, node=planned.node, profile_config=profile_config, artifacts=artifacts, **args
            )
            node_tasks[planned.unique_id] = run
            if after_each and planned.tests:
                test_tasks[planned.unique_id] = test_operator(planned, "test")
                run >> test_tasks[planned.unique_id]

    for planned in plan.nodes:
        task = node_tasks[planned.unique_id]
        for parent in planned.parents:
            blocking = test_tasks.get(parent) if parent in planned.waits_for_tests_of else None
            (blocking or node_tasks[parent]) >> task
        if not planned.parents:
            setup >> task
        if planned.unique_id in test_tasks:
            for other in planned.test_parents:
                node_tasks[other] >> test_tasks[planned.unique_id]

    if render_config.test_behavior == TestBehavior.AFTER_ALL:
        tested = [planned for planned in plan.nodes if planned.tests]
        if tested:
            with TaskGroup(group_id="tests"):
                for planned in tested:
                    test_tasks[planned.unique_id] = test_operator(planned, planned.group_id)
                    list(node_tasks.values()) >> test_tasks[planned.unique_id]
    return BuiltGraph(setup=setup, node_tasks=node_tasks, test_tasks=test_tasks)
