"""The BigQuery operator of dbt tests: a node's tests as one deferrable job, judged like ``dbt test``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.links.bigquery import BigQueryJobDetailLink
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.backends.bigquery.operators import BigQueryJobOperator
from cosmos_remote.backends.bigquery.results import job_result, record_results
from cosmos_remote.dbt.manifest import DbtNode
from cosmos_remote.dbt.run_results import NodeResult
from cosmos_remote.operators.dbt_tests import (
    TestOutcome,
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
        record_results(context, [self._test_result(job, summary, t.unique_id, outcome) for t in self.tests])
        if outcome.errors:
            raise AirflowException("dbt tests failed:\n" + "\n\n".join(outcome.errors))
        return summary

    def _test_result(self, job: Any, summary: dict[str, Any], unique_id: str, outcome: TestOutcome) -> NodeResult:
        """dbt's result of one test: pass / warn / fail with its failing rows (a test has no relation of its own)."""
        summary = {**summary, "relation": None}
        judged = outcome.results.get(unique_id)
        if judged is None:
            missing = "the failure-count query returned no row for this test"
            return job_result(unique_id, "error", job, summary, task_id=self.task_id, message=missing)
        failures, status = int(judged["failures"]), judged["status"]
        message = (
            None if status == "pass" else f"Got {failures} result{'' if failures == 1 else 's'}, configured to {status}"
        )
        return job_result(
            unique_id,
            status,
            job,
            summary,
            task_id=self.task_id,
            message=message,
            default_message=False,
            failures=failures,
        )

    def failed_results(self, job: Any, summary: dict[str, Any], error: str) -> list[NodeResult]:
        """Every test of the task is an error when the job itself failed."""
        return [
            job_result(
                unique_id=t.unique_id,
                status="error",
                job=job,
                summary={**summary, "relation": None},
                task_id=self.task_id,
                message=error,
            )
            for t in self.tests
        ]
