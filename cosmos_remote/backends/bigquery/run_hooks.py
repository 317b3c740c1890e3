"""The BigQuery operator of run-level hooks: a project's ``on-run-start`` or ``on-run-end`` script as one job.

The setup task publishes each phase as one script (:func:`~cosmos_remote.publish.run_hooks_artifacts`):
``on-run-start`` holds dbt's ``CREATE SCHEMA`` statements and the statements of every on-run-start hook of the
project and its packages, in dbt's order; ``on-run-end`` the on-run-end hooks. The DAG runs the first right after
the setup task, before any node, and the second after every node task is done, whatever their states (dbt runs
on-run-end hooks also after a failure). A phase whose hooks rendered to nothing submits no job.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.links.bigquery import BigQueryJobDetailLink
from airflow.sdk import Context

from cosmos_remote.backends.bigquery.operators import BigQueryJobOperator
from cosmos_remote.dbt.run_results import NodeResult
from cosmos_remote.operators.factory import DbtRunHooksAirflowAsyncFactoryOperator

__all__ = ["DbtRunHooksBigQueryOperator"]


class DbtRunHooksBigQueryOperator(DbtRunHooksAirflowAsyncFactoryOperator, BigQueryJobOperator):
    """Runs the published script of one run-level hook phase (``node`` is
    :func:`~cosmos_remote.dbt.manifest.run_hooks_node`) as one deferrable query job."""

    operator_extra_links = (BigQueryJobDetailLink(),)  # type: ignore[assignment]

    def describe(self) -> str:
        return f"dbt {self.node.name} hooks of {self.node.package_name}"

    def execute(self, context: Context) -> Any:
        if not (self.sql or "").strip():
            self.log.info("%s: nothing to run (the hooks rendered no statement)", self.describe())
            return None
        return super().execute(context)

    def record(self, context: Context, job: Any, summary: dict[str, Any]) -> Any:
        """Hooks are not nodes: nothing for run_results.json."""
        return summary

    def failed_results(self, job: Any, summary: dict[str, Any], error: str) -> list[NodeResult]:
        return []
