"""BigQuery operators for dbt nodes: deferrable jobs built on the provider's ``BigQueryInsertJobOperator``.

Each task fetches its node's script from the artifact store once (when its template fields are rendered, so the SQL
shows in the UI), submits it as a query job with a deterministic id and labels, records the job id and link, and
defers until the triggerer sees the job finish. A retry never runs a model twice at once: the job id of each try is
written to the task's state store *before* the job is inserted, so the next try reattaches to a running job,
completes from a succeeded one, and submits anew only after a failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

from airflow.providers.google.cloud.links.bigquery import BigQueryJobDetailLink, BigQueryTableLink
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.config import ProfileConfig
from cosmos_remote.dbt.manifest import DbtNode
from cosmos_remote.hooks.bigquery import BigQueryHook
from cosmos_remote.operators._artifacts import ArtifactSource
from cosmos_remote.operators._jobs import job_id_for, job_link, job_summary, sanitize_labels
from cosmos_remote.operators._publish import TEST_QUERY_FILE
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator
from cosmos_remote.operators.testing import TestSpec, evaluate_tests, failure_count_query
from cosmos_remote.triggers.bigquery import BigQueryInsertJobTrigger

__all__ = ["DbtRunBigQueryOperator", "DbtTestBigQueryOperator", "bigquery_asset"]

_STATE_KEY = "cosmos_remote_bigquery_job"


def bigquery_asset(node: DbtNode) -> Asset | None:
    """``bigquery://project/dataset/table`` of the node's real relation (alias and custom schema applied)."""
    if node.relation is None or node.is_ephemeral or node.resource_type == "test":
        return None
    relation = node.relation
    return Asset(uri=f"bigquery://{relation.database}/{relation.schema}/{relation.identifier}")


class _DbtBigQueryJobOperator(BigQueryInsertJobOperator):
    """Shared job handling: fetch the SQL, submit or reattach, defer, record."""

    template_fields: Sequence[str] = ("sql", "dbt_node_id", "project_id", "dataset", "location", "configuration")
    template_fields_renderers = {"sql": "sql", "configuration": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        node: DbtNode,
        profile_config: ProfileConfig,
        artifacts: ArtifactSource,
        gcp_conn_id: str | None = None,
        project_id: str | None = None,
        location: str | None = None,
        poll_interval: float = 4.0,
        labels: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            configuration={},
            project_id=cast(str, project_id or profile_config.job_project),
            location=location or profile_config.location,
            gcp_conn_id=gcp_conn_id or profile_config.conn_id or "google_cloud_default",
            deferrable=True,
            force_rerun=False,
            poll_interval=poll_interval,
            **kwargs,
        )
        self.node = node
        self.dbt_node_id = node.unique_id
        self.dataset = node.relation.schema if node.relation else None
        self.artifacts = artifacts
        self.extra_labels = dict(labels or {})
        self.query_options = _query_options(profile_config.profile_args)
        self.sql: str = ""

    # -- SQL ------------------------------------------------------------------------------------------------------

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        self.sql = self._load_sql(context)
        self.configuration = {
            "query": {"query": self.sql, "useLegacySql": False, **self.query_options},
            "labels": self._labels(context),
        }

    def _load_sql(self, context: Any) -> str:
        store, ref = self.artifacts.open(context["ti"])
        return store.fetch(ref=ref, node_id=self.dbt_node_id).decode("utf-8")

    def _labels(self, context: Any) -> dict[str, str]:
        labels = {
            "airflow-dag": self.dag_id,
            "airflow-task": self.task_id,
            "airflow-run": str(context["run_id"]),
            "dbt-node": self.node.name,
            "dbt-resource-type": self.node.resource_type,
            "dbt-project": self.node.package_name,
        }
        return sanitize_labels({**labels, **self.extra_labels})

    # -- submit / reattach ----------------------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        hook = self._new_hook()
        if self.project_id is None:
            self.project_id = hook.project_id
        job = self._submit_or_reattach(context, hook)
        self.job_id = job.job_id
        BigQueryJobDetailLink.persist(
            context=context, project_id=self.project_id, location=self.location or job.location, job_id=job.job_id
        )
        self._persist_table_link(context)
        self.log.info("dbt %s runs as BigQuery job %s: %s", self.dbt_node_id, job.job_id, self._link(job.job_id))
        if job.running():
            self.defer(
                trigger=BigQueryInsertJobTrigger(
                    conn_id=self.gcp_conn_id,
                    job_id=job.job_id,
                    project_id=self.project_id,
                    location=self.location or job.location,
                    poll_interval=self.poll_interval,
                    impersonation_chain=self.impersonation_chain,
                    cancel_on_kill=self.cancel_on_kill,
                ),
                method_name="execute_complete",
                kwargs={"job_id": job.job_id},
            )
        return self._finish(context, job)

    def _new_hook(self) -> BigQueryHook:
        """The endpoint-aware hook for this task's connection, kept on ``self.hook`` as the provider does."""
        hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        self.hook = hook
        return hook

    def _persist_table_link(self, context: Any) -> None:
        relation = self.node.relation
        if relation is not None:
            BigQueryTableLink.persist(
                context=context, project_id=relation.database, dataset_id=relation.schema, table_id=relation.identifier
            )

    def _submit_or_reattach(self, context: Any, hook: BigQueryHook) -> Any:
        from google.api_core.exceptions import Conflict, NotFound

        ti = context["ti"]
        state = context.get("task_state_store")
        previous = state.get(_STATE_KEY) if state is not None else None
        if isinstance(previous, dict) and previous.get("max_tries") == ti.max_tries:
            try:
                job = hook.get_job(job_id=previous["job_id"], project_id=self.project_id, location=self.location)
            except NotFound:
                job = None
            if job is not None and job.state != "DONE":
                self.log.info("Reattaching to job %s of a previous try (state %s)", job.job_id, job.state)
                return job
            if job is not None and not job.error_result:
                self.log.info(
                    "Job %s of a previous try already succeeded; not running %s again", job.job_id, self.dbt_node_id
                )
                return job
            if job is not None:
                self.log.info(
                    "Job %s of a previous try failed (%s); submitting a new job", job.job_id, job.error_result
                )
        sql_sha256 = hashlib.sha256(self.sql.encode("utf-8")).hexdigest()
        job_id = job_id_for(
            dag_id=self.dag_id,
            task_id=self.task_id,
            run_id=str(context["run_id"]),
            sql_sha256=sql_sha256,
            attempt=ti.try_number,
        )
        if state is not None:
            # Before the insert: a worker that dies right after it leaves the id for the next try to find.
            state.set(_STATE_KEY, {"job_id": job_id, "max_tries": ti.max_tries})
        try:
            return hook.insert_job(
                configuration=self.configuration,
                project_id=self.project_id,
                location=self.location,
                job_id=job_id,
                nowait=True,
            )
        except Conflict:
            job = hook.get_job(job_id=job_id, project_id=self.project_id, location=self.location)
            self.log.info("Job %s already exists (state %s); attaching to it", job_id, job.state)
            return job

    # -- completion -----------------------------------------------------------------------------------------------

    def execute_complete(self, context: Any, event: dict[str, Any], job_id: str | None = None) -> Any:
        job_id = job_id or event.get("job_id")
        if event.get("status") == "error":
            raise AirflowException(
                f"dbt {self.dbt_node_id}: BigQuery job {job_id} failed: {event.get('message')}\n{self._link(job_id)}"
            )
        hook = self._new_hook()
        job = hook.get_job(job_id=job_id, project_id=self.project_id or hook.project_id, location=self.location)
        return self._finish(context, job, deferred=True)

    def _link(self, job_id: str | None) -> str:
        return job_link(project_id=str(self.project_id), location=self.location, job_id=str(job_id))

    def _finish(self, context: Any, job: Any, *, deferred: bool = False) -> Any:
        if job.error_result:
            raise AirflowException(
                f"dbt {self.dbt_node_id}: BigQuery job {job.job_id} failed: {job.error_result.get('message')}\n"
                f"{self._link(job.job_id)}"
            )
        summary = job_summary(job, project_id=self.project_id, location=self.location)
        summary.update(
            node_id=self.dbt_node_id,
            relation=str(self.node.relation) if self.node.relation else None,
            deferred=deferred,
        )
        self.log.info(
            "dbt %s done: job %s, %s bytes processed, %s bytes billed, %s slot ms, cache hit %s, statement %s",
            self.dbt_node_id,
            job.job_id,
            summary["total_bytes_processed"],
            summary["total_bytes_billed"],
            summary["slot_millis"],
            summary["cache_hit"],
            summary["statement_type"],
        )
        return self._result(context, job, summary)

    def _result(self, context: Any, job: Any, summary: dict[str, Any]) -> Any:
        return summary


class DbtRunBigQueryOperator(DbtRunAirflowAsyncFactoryOperator, _DbtBigQueryJobOperator):
    """Builds a dbt model, snapshot or seed from its published BigQuery script, as one deferrable query job.

    Its outlet is the node's relation as an Airflow Asset (``bigquery://project/dataset/table``), so downstream DAGs
    can be scheduled on it.
    """

    def __init__(self, *, node: DbtNode, **kwargs: Any) -> None:
        asset = bigquery_asset(node)
        if asset is not None and "outlets" not in kwargs:
            kwargs["outlets"] = [asset]
        super().__init__(node=node, **kwargs)


class DbtTestBigQueryOperator(DbtTestAirflowAsyncFactoryOperator, _DbtBigQueryJobOperator):
    """Runs the failure-count queries of one or more dbt tests as one deferrable job, then applies each test's
    severity, ``warn_if`` and ``error_if`` like ``dbt test``: errors fail the task, warnings are logged."""

    operator_extra_links = (BigQueryJobDetailLink(),)  # type: ignore[assignment]

    def __init__(self, *, node: DbtNode, tests: Sequence[TestSpec], **kwargs: Any) -> None:
        super().__init__(node=node, **kwargs)
        self.tests = list(tests)
        self._test_sql: dict[str, str] = {}

    def _persist_table_link(self, context: Any) -> None:
        """A test task has no table of its own: only the job link."""

    def _load_sql(self, context: Any) -> str:
        store, ref = self.artifacts.open(context["ti"])
        self._test_sql = {
            t.unique_id: store.fetch(ref=ref, node_id=t.unique_id, name=TEST_QUERY_FILE).decode("utf-8")
            for t in self.tests
        }
        return failure_count_query(self._test_sql)

    def _result(self, context: Any, job: Any, summary: dict[str, Any]) -> Any:
        rows = {row["test_id"]: dict(row.items()) for row in job.result()}
        outcome = evaluate_tests(self.tests, rows=rows, sql=self._test_sql)
        for line in outcome.warnings:
            self.log.warning("%s", line)
        summary["tests"] = outcome.as_dict()
        if outcome.errors:
            raise AirflowException("dbt tests failed:\n" + "\n\n".join(outcome.errors))
        return summary


def _query_options(profile_args: Mapping[str, Any]) -> dict[str, Any]:
    """Query-job settings dbt-bigquery takes from the profile (``priority``, ``maximum_bytes_billed``), so that the
    jobs run as ``dbt run`` would have run them."""
    options: dict[str, Any] = {}
    priority = profile_args.get("priority")
    if isinstance(priority, str) and priority.lower() in ("interactive", "batch"):
        options["priority"] = priority.upper()
    limit = profile_args.get("maximum_bytes_billed")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        options["maximumBytesBilled"] = str(limit)
    return options
