"""``DbtTaskGroup``: a dbt project as a task group inside any DAG."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import TaskGroup

from cosmos_remote.airflow._convert import convert
from cosmos_remote.airflow.build import BuiltGraph
from cosmos_remote.compat import emit_notices, ignored_notice
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

__all__ = ["DbtTaskGroup"]


class DbtTaskGroup(TaskGroup):
    """A task group rendering a dbt project as deferrable warehouse jobs, between other tasks of a DAG.

    Same arguments as :class:`~cosmos_remote.DbtDag` plus the task group's own (``group_id``...). Several groups in
    one DAG publish their SQL under separate prefixes (``{root}/{dag_id}/{group_id}/{run_id}``).

    Example:
        >>> with DAG("pipeline", schedule=None):  # doctest: +SKIP
        ...     extract >> DbtTaskGroup(group_id="transform", project_config=..., profile_config=...) >> report
    """

    def __init__(
        self,
        group_id: str = "dbt_task_group",
        *group_args: Any,
        project_config: ProjectConfig,
        profile_config: ProfileConfig,
        execution_config: ExecutionConfig | None = None,
        render_config: RenderConfig | None = None,
        operator_args: Mapping[str, Any] | None = None,
        on_warning_callback: Callable[..., Any] | None = None,
        **group_kwargs: Any,
    ) -> None:
        super().__init__(group_id, *group_args, **group_kwargs)
        if on_warning_callback is not None:
            emit_notices([ignored_notice("DbtDag", "on_warning_callback")], where=f"task group {self.group_id!r}")
        with self:
            self.dbt_graph: BuiltGraph = convert(
                project_config=project_config,
                profile_config=profile_config,
                execution_config=execution_config,
                render_config=render_config,
                scope_group=self.group_id,
                operator_args=operator_args,
                where=f"task group {self.group_id!r}",
            )
