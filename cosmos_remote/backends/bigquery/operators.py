"""BigQuery operators for dbt nodes: deferrable jobs built on the provider's ``BigQueryInsertJobOperator``.

Each task fetches its node's script from the artifact store once per try (when its template fields are rendered, so
the SQL shows in the UI; on resuming after the trigger the SQL comes from the job itself), submits it as a query job
with a deterministic id and labels through the provider's ``submit_job`` / ``generate_job_id``, records the job id
and link, and defers until the triggerer sees the job finish. A retry never runs a model twice at once: the job id of
each try is written to the task's state store *before* the job is inserted, so the next try reattaches to a running
job, completes from a succeeded one, and submits anew only after a failure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.google.cloud.links.bigquery import BigQueryJobDetailLink, BigQueryTableLink
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.artifacts.reference import ArtifactSource
from cosmos_remote.backends.bigquery import BACKEND
from cosmos_remote.backends.bigquery.hooks import BigQueryHook
from cosmos_remote.backends.bigquery.jobs import (
    check_poll_interval,
    job_id_prefix,
    job_link,
    job_outcome,
    job_summary,
    query_options,
    refuse_fixed_arguments,
    relation_from_name,
    relation_name,
    sanitize_labels,
)
from cosmos_remote.backends.bigquery.results import job_result, record_results
from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger, settle_seconds
from cosmos_remote.config import ProfileConfig
from cosmos_remote.dbt.manifest import DbtNode
from cosmos_remote.dbt.run_results import NodeResult
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator

__all__ = ["BigQueryJobOperator", "DbtRunBigQueryOperator"]

if TYPE_CHECKING:
    from pydantic import JsonValue

    from cosmos_remote.artifacts import Relation as ArtifactRelation

_STATE_KEY = "cosmos_remote_bigquery_job"


class BigQueryJobOperator(BigQueryInsertJobOperator):
    """Shared job handling on the provider's extension points: the SQL is fetched once per try, ``submit_job``
    reattaches or inserts under a deterministic id (``generate_job_id``), ``execute_complete`` records the job."""

    template_fields: Sequence[str] = (
        "sql",
        "unique_id",
        "project_id",
        "dataset",
        "location",
        "artifact_uri",
        "job_configuration",
    )
    template_fields_renderers = {"sql": "sql", "job_configuration": "json"}
    # No template field is a file path: the provider's (".json", ".sql") would make Airflow read a value ending in
    # .sql as a template file (and is serialized with every task).
    template_ext: Sequence[str] = ()
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
        refuse_fixed_arguments(kwargs, task_id=kwargs.get("task_id"))
        check_poll_interval(poll_interval, task_id=kwargs.get("task_id"))
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
        self.unique_id = node.unique_id
        self.dataset = node.relation.schema if node.relation else None
        self.artifacts = artifacts
        self.extra_labels = dict(labels or {})
        self.query_options = query_options(profile_config.profile_args)
        # Known once a try starts (render_template_fields). None until then: Airflow leaves None template fields
        # out of the serialized DAG (0.4 s less serialization at 10,000 tasks).
        self.sql: str | None = None
        self.artifact_uri: str | None = None
        self.job_configuration: dict[str, Any] | None = None
        self.published_relation: ArtifactRelation | None = None
        self.bigquery_job: Any = None

    # -- SQL, once per try ----------------------------------------------------------------------------------------

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render, then take the node's SQL: from the artifact store when the try starts, from the job this try
        submitted when the task resumes after the trigger (Airflow renders again then, and the Rendered Template
        keeps showing the SQL without a second read of the store)."""
        super().render_template_fields(context, jinja_env)
        resumed = self._job_of_this_try(context)
        if resumed is not None:
            self.bigquery_job, saved = resumed
            self.sql = self.sql_of_job(self.bigquery_job)
            self.published_relation = relation_from_name(saved.get("relation"))
            self.artifact_uri = str(saved.get("artifacts") or "")
        else:
            self.sql = self.fetch_sql(context)
        self.project_id = self._project(self._new_hook())
        self.configuration = {
            "query": {"query": self.sql, "useLegacySql": False, **self.query_options},
            "labels": self._labels(context),
        }
        # What the UI shows next to the SQL: the job's settings without the query text a second time.
        self.job_configuration = {
            "query": {"useLegacySql": False, **self.query_options},
            "labels": self.configuration["labels"],
        }

    def fetch_sql(self, context: Context) -> str:
        """The node's verified script from the run's artifacts (the test operator fetches its tests' queries)."""
        store, ref = self.artifacts.open(context["ti"])
        sql = store.fetch(ref=ref, unique_id=self.unique_id).decode("utf-8")
        self.published_relation = store.read_index(ref=ref).nodes[self.unique_id].relation
        self.artifact_uri = ref.uri
        return sql

    def describe(self) -> str:
        """The node in log lines: ``dbt model model.jaffle_shop.orders``."""
        return f"dbt {self.node.resource_type} {self.unique_id}"

    def sql_of_job(self, job: Any) -> str:
        """The SQL a job ran, for a task resumed after its trigger (no second read of the store)."""
        return str(getattr(job, "query", None) or "")

    def _labels(self, context: Context) -> dict[str, str]:
        labels = {
            "airflow-dag": self.dag_id,
            "airflow-task": self.task_id,
            "airflow-run": str(context["run_id"]),
            "dbt-node": self.node.name,
            "dbt-resource-type": self.node.resource_type,
            "dbt-project": self.node.package_name,
        }
        return sanitize_labels({**labels, **self.extra_labels})

    def _job_of_this_try(self, context: Context) -> tuple[Any, dict[str, Any]] | None:
        """The job this very try submitted before it deferred, with what was saved of it in the task state store."""
        previous = self._saved_job(context)
        if previous is None or previous.get("try_number") != context["ti"].try_number:
            return None
        from google.api_core.exceptions import NotFound

        hook = self._new_hook()
        try:
            job = hook.get_job(job_id=previous["job_id"], project_id=self._project(hook), location=self.location)
        except NotFound:
            return None
        return job, previous

    # -- submit (the provider's extension points) -----------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """``submit_job``, then defer to the endpoint-aware trigger while the job runs (the worker slot is free)."""
        job_id = self.submit_job(context)
        job = self.bigquery_job
        if job.state != "DONE":
            self.log.info("%s: started BigQuery job %s (%s)", self.describe(), job_id, self._link(job_id))
        if job.running():
            self.defer(
                trigger=BigQueryInsertJobTrigger(
                    conn_id=self.gcp_conn_id,
                    job_id=job_id,
                    project_id=self.project_id,
                    location=self.location or job.location,
                    poll_interval=self.poll_interval,
                    impersonation_chain=self.impersonation_chain,
                    cancel_on_kill=self.cancel_on_kill,
                    settle_until=time.time() + settle_seconds(),
                ),
                method_name="execute_complete",
                kwargs={"job_id": job_id},
            )
        return self._finish(context, job)

    def submit_job(self, context: Context) -> str:
        """Reattach to this task's job of an earlier try, or insert the node's job under the id of
        ``generate_job_id`` (saved in the task state store *before* the insert); persist the links; return the id."""
        hook = self._new_hook()
        self.project_id = self._project(hook)
        job = self._reattach(context, hook) or self._insert(context, hook)
        self.bigquery_job = job
        self.job_id = job.job_id
        BigQueryJobDetailLink.persist(
            context=context, project_id=self.project_id, location=self.location or job.location, job_id=job.job_id
        )
        self.persist_table_link(context)
        return str(job.job_id)

    def _reattach(self, context: Context, hook: BigQueryHook) -> Any:
        from google.api_core.exceptions import NotFound

        previous = self._saved_job(context)
        if previous is None or previous.get("max_tries") != context["ti"].max_tries:
            return None
        try:
            job = hook.get_job(job_id=previous["job_id"], project_id=self.project_id, location=self.location)
        except NotFound:
            return None
        if job.state != "DONE":
            self.log.info("Reattaching to job %s of a previous try (state %s)", job.job_id, job.state)
            return job
        if not job.error_result:
            self.log.info(
                "Job %s of a previous try already succeeded: %s completes from it, without running again",
                job.job_id,
                self.describe(),
            )
            return job
        self.log.info("Job %s of a previous try failed (%s); submitting a new job", job.job_id, job.error_result)
        return None

    def _insert(self, context: Context, hook: BigQueryHook) -> Any:
        from google.api_core.exceptions import Conflict

        ti = context["ti"]
        job_id = hook.generate_job_id(
            job_id=job_id_prefix(
                dag_id=self.dag_id, task_id=self.task_id, run_id=str(context["run_id"]), try_id=str(ti.id)
            ),
            dag_id=self.dag_id,
            task_id=self.task_id,
            logical_date=None,
            configuration=self.configuration,
            try_number=ti.try_number,
        )
        state = context.get("task_state_store")
        if state is not None:
            # Before the insert: a worker that dies right after it leaves the id for the next try to find.
            saved: dict[str, JsonValue] = {
                "job_id": job_id,
                "max_tries": ti.max_tries,
                "try_number": ti.try_number,
                "relation": relation_name(self.published_relation),
                "artifacts": self.artifact_uri,
            }
            state.set(_STATE_KEY, saved)
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

    def _saved_job(self, context: Context) -> dict[str, Any] | None:
        state = context.get("task_state_store")
        previous = state.get(_STATE_KEY) if state is not None else None
        return previous if isinstance(previous, dict) and previous.get("job_id") else None

    def _new_hook(self) -> BigQueryHook:
        """The endpoint-aware hook for this task's connection, kept on ``self.hook`` as the provider does."""
        if not isinstance(self.hook, BigQueryHook):
            self.hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return self.hook

    def _project(self, hook: BigQueryHook) -> str:
        return str(self.project_id or hook.project_id)

    def persist_table_link(self, context: Context) -> None:
        relation = self.published_relation or self.node.relation
        if relation is not None:
            BigQueryTableLink.persist(
                context=context, project_id=relation.database, dataset_id=relation.schema, table_id=relation.identifier
            )

    # -- completion -----------------------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any], job_id: str | None = None) -> Any:
        """The trigger's event: fail with the job's error and link, or record the finished job. The job id comes
        from the deferral's kwargs, else the event, else the task state store (an error event names no job)."""
        resumed = self.bigquery_job
        job_id = job_id or event.get("job_id") or (resumed.job_id if resumed is not None else None)
        self.job_id = job_id
        if event.get("status") == "error":
            summary = {"job_id": job_id, "project_id": self.project_id, "location": self.location}
            record_results(context, self.failed_results(None, summary, str(event.get("message"))))
            raise AirflowException(
                f"{self.describe()}: BigQuery job {job_id} failed: {event.get('message')}\n{self._link(job_id)}"
            )
        job = self.bigquery_job
        if job is None or job.job_id != job_id or job.state != "DONE":
            hook = self._new_hook()
            job = hook.get_job(job_id=job_id, project_id=self._project(hook), location=self.location)
        return self._finish(context, job, deferred=True)

    def _link(self, job_id: str | None) -> str:
        """The console page of the job, in the project it ran in (also after resuming, when the profile named
        none and the project comes from the connection)."""
        job = self.bigquery_job
        project = getattr(job, "project", None) or self._project(self._new_hook())
        location = self.location or getattr(job, "location", None)
        return job_link(project_id=project, location=location, job_id=str(job_id))

    def _finish(self, context: Context, job: Any, *, deferred: bool = False) -> Any:
        summary = job_summary(job, project_id=self.project_id, location=self.location)
        relation = self.published_relation or self.node.relation
        summary.update(
            unique_id=self.unique_id,
            relation=relation_name(relation),
            artifacts=self.artifact_uri or None,
            deferred=deferred,
        )
        if job.error_result:
            error = str(job.error_result.get("message"))
            record_results(context, self.failed_results(job, summary, error))
            raise AirflowException(
                f"{self.describe()}: BigQuery job {job.job_id} failed: {error}\n{self._link(job.job_id)}"
            )
        self.log.info("%s done, %s", self.describe(), job_outcome(summary))
        return self.record(context, job, summary)

    def record(self, context: Context, job: Any, summary: dict[str, Any]) -> Any:
        """Record the finished job (dbt's result of the node, the asset event); return the XCom summary."""
        record_results(context, [job_result(self.unique_id, "success", job, summary, task_id=self.task_id)])
        return summary

    def failed_results(self, job: Any, summary: dict[str, Any], error: str) -> list[NodeResult]:
        """dbt's results of the node(s) of this task when its job failed."""
        return [job_result(self.unique_id, "error", job, summary, task_id=self.task_id, message=error)]


class DbtRunBigQueryOperator(DbtRunAirflowAsyncFactoryOperator, BigQueryJobOperator):
    """Builds a dbt model, snapshot or seed from its published BigQuery script, as one deferrable query job.

    Its outlet is the node's relation as an Airflow Asset (``bigquery://project/dataset/table``), so downstream DAGs
    can be scheduled on it.
    """

    def __init__(self, *, node: DbtNode, **kwargs: Any) -> None:
        asset = BACKEND.node_asset(node)
        if asset is not None and "outlets" not in kwargs:
            kwargs["outlets"] = [asset]
        super().__init__(node=node, **kwargs)
        self.asset = asset

    def record(self, context: Context, job: Any, summary: dict[str, Any]) -> Any:
        """The asset event carries the job and the relation the setup task published (the outlet itself is fixed
        at parse; a different published relation is logged, naming both)."""
        if self.asset is not None and self.asset in self.outlets:
            published = summary.get("relation")
            parsed = relation_name(self.node.relation)
            if published and parsed and published != parsed:
                self.log.warning(
                    "dbt %s built %s, but the DAG was parsed with %s: the Asset %s names the parse-time relation; "
                    "re-parse the DAG (or pin the schema) so downstream schedules follow the new one",
                    self.unique_id,
                    published,
                    parsed,
                    self.asset.uri,
                )
            extra = {
                "relation": published,
                "job_id": summary["job_id"],
                "job_link": summary["job_link"],
                "bytes_billed": summary["total_bytes_billed"],
                "rows_affected": summary["num_dml_affected_rows"],
                "artifacts": summary["artifacts"],
            }
            context["outlet_events"][self.asset].extra.update({k: v for k, v in extra.items() if v is not None})
        return super().record(context, job, summary)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the provider's lineage of the job, with the node's relation as output (see lineage.py)."""
        from cosmos_remote.backends.bigquery.lineage import node_lineage

        return node_lineage(self, task_instance)
