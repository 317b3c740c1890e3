"""``DbtDag``: a DAG whose tasks are a dbt project's models, seeds, snapshots and tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import DAG

from cosmos_remote.airflow._convert import convert, cosmos_dag_kwargs
from cosmos_remote.airflow.build import BuiltGraph
from cosmos_remote.compat import emit_notices
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

__all__ = ["DbtDag"]


class DbtDag(DAG):
    """An Airflow DAG rendering a dbt project as deferrable warehouse jobs.

    A setup task renders and publishes every selected node's SQL once per run; each model, seed and snapshot is a
    task group (``stg_orders.run``, ``stg_orders.test``) whose job frees its worker slot while it runs. Every other
    argument is the DAG's own (``dag_id``, ``schedule``, ``start_date``, ``default_args``...).

    Args:
        project_config: The dbt project (and optionally a prebuilt manifest).
        profile_config: The dbt profile / Airflow connection.
        execution_config: ``remote_target_path`` and friends.
        render_config: Selection and test placement.
        operator_args: Arguments for every dbt task (``retries``, ``pool``, ``poll_interval``...).

    Example:
        >>> with DbtDag(dag_id="jaffle_shop", schedule="@daily", start_date=datetime(2026, 1, 1),
        ...             project_config=ProjectConfig(dbt_project_path="/opt/airflow/dags/dbt/jaffle_shop"),
        ...             profile_config=ProfileConfig(profile_name="jaffle_shop", target_name="prod",
        ...                                          conn_id="google_cloud_default", dataset="analytics"),
        ...             execution_config=ExecutionConfig(remote_target_path="gs://my-bucket/cosmos")):
        ...     pass  # doctest: +SKIP
    """

    def __init__(
        self,
        *dag_args: Any,
        project_config: ProjectConfig,
        profile_config: ProfileConfig,
        execution_config: ExecutionConfig | None = None,
        render_config: RenderConfig | None = None,
        operator_args: Mapping[str, Any] | None = None,
        on_warning_callback: Callable[..., Any] | None = None,
        **dag_kwargs: Any,
    ) -> None:
        notices = cosmos_dag_kwargs(dag_kwargs, on_warning_callback=on_warning_callback)
        super().__init__(*dag_args, **dag_kwargs)
        emit_notices(notices, where=f"DAG {self.dag_id!r}")
        with self:
            self.dbt_graph: BuiltGraph = convert(
                project_config=project_config,
                profile_config=profile_config,
                execution_config=execution_config,
                render_config=render_config,
                scope_group=None,
                operator_args=operator_args,
                where=f"DAG {self.dag_id!r}",
            )
