"""The BigQuery operator of dbt tests: a node's tests as one deferrable job, judged like ``dbt test``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.links.bigquery import BigQueryJobDetailLink
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.backends.bigquery.operators import BigQueryJobOperator
from cosmos_remote.dbt.manifest import DbtNode
from cosmos_remote.operators.dbt_tests import (
    TestSpec,
    evaluate_tests,
    failure_count_query,
    split_failure_count_query,
)
from cosmos_remote.operators.factory import DbtTestAirflowAsyncFactoryOperator
from cosmos_remote.publish import TEST_QUERY_FILE

__all__ = ["DbtTestBigQueryOperator"]


class DbtTestBigQueryOperator(DbtTestAirflowAsyncFactoryOperator, BigQueryJobOperator):
    """Runs the failure-count queries of one or more dbt tests as one deferrable job, then applies each test's
    severity, ``warn_if`` and ``error_if`` like ``dbt test``: errors fail the task, warnings are logged."""

    operator_extra_links = (BigQueryJobDetailLink(),)  # type: ignore[assignment]

    def __init__(self, *, node: DbtNode, tests: Sequence[TestSpec], **kwargs: Any) -> None:
        super().__init__(node=node, **kwargs)
        self.tests = list(tests)
        self._test_sql: dict[str, str] = {}

    def persist_table_link(self, context: Context) -> None:
        """A test task has no table of its own: only the job link."""

    def describe(self) -> str:
        count = len(self.tests)
        return f"dbt tests of {self.unique_id} ({count} test{'' if count == 1 else 's'})"

    def fetch_sql(self, context: Context) -> str:
        store, ref = self.artifacts.open(context["ti"])
        self._test_sql = {
            t.unique_id: store.fetch(ref=ref, unique_id=t.unique_id, name=TEST_QUERY_FILE).decode("utf-8")
            for t in self.tests
        }
        return failure_count_query(self._test_sql)

    def sql_of_job(self, job: Any) -> str:
        query = super().sql_of_job(job)
        self._test_sql = split_failure_count_query(query, [t.unique_id for t in self.tests])
        return query

    def record(self, context: Context, job: Any, summary: dict[str, Any]) -> Any:
        rows = {row["test_id"]: dict(row.items()) for row in job.result()}
        outcome = evaluate_tests(self.tests, rows=rows, sql=self._test_sql)
        self.log.info("%s: %s", self.describe(), outcome.totals())
        for line in outcome.passes(self.tests):
            self.log.info("%s", line)
        for line in outcome.warnings:
            self.log.warning("%s", line)
        summary["tests"] = outcome.as_dict()
        if outcome.errors:
            raise AirflowException("dbt tests failed:\n" + "\n\n".join(outcome.errors))
        return summary
