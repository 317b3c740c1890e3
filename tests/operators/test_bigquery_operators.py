"""Model and test tasks against the BigQuery emulator: deferral, results, retries, failures, test severities."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow import load_dag

from .dags import dag_file


@pytest.fixture
def dataset(gcp: LocalGCP) -> str:
    name = f"ops_{uuid.uuid4().hex[:8]}"
    gcp.create_dataset(name)
    return name


def run_dag(
    gcp: LocalGCP,
    folder: Path,
    *,
    dag_id: str,
    dataset: str,
    scripts: dict[str, str],
    body: str,
    root: str | None = "gs",
    logical_date: Any = None,
) -> Any:
    """Write the DAG file and dag.test() it; ``root=None`` publishes through XCom (no remote_target_path); the same
    ``logical_date`` twice deletes the first DAG run and creates it again with the same run id."""
    root = f"gs://{gcp.bucket}/ops" if root == "gs" else root
    source = dag_file(root=root, project=gcp.project, dataset=dataset, scripts=scripts, body=body)
    (folder / f"{dag_id}.py").write_text(source)
    dag = load_dag(folder, dag_id)
    return dag.test(logical_date=logical_date, run_after=logical_date) if logical_date is not None else dag.test()


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def inserts_for(gcp: LocalGCP, fragment: str) -> list[dict[str, Any]]:
    return [a for a in gcp.job_log()["inserts"] if fragment in a["job_id"]]


def test_model_task_defers_then_records_the_job_and_emits_the_real_relation(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    gcp.set_job_latency(5.0)
    scripts = {"model.proj.customers": f"create or replace table `{dataset}.dim_customers` as select 1 as id"}
    body = """
    with DAG("op_defer", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> DbtRunAirflowAsyncFactoryOperator(
            task_id="customers.run", node=node("customers", identifier="dim_customers"), profile_config=PROFILE,
            artifacts=ARTIFACTS, poll_interval=1)
    """
    dag_run = run_dag(gcp, airflow_dags_folder, dag_id="op_defer", dataset=dataset, scripts=scripts, body=body)

    assert states(dag_run) == {"publish": "success", "customers.run": "success"}
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "customers.run")
    summary = ti.xcom_pull(task_ids="customers.run")
    assert summary["unique_id"] == "model.proj.customers"
    assert summary["state"] == "DONE"
    assert summary["deferred"] is True, "the task resumed from its trigger"
    assert summary["job_link"].endswith(f"{summary['job_id']}!3sUS")
    assert {"total_bytes_processed", "total_bytes_billed", "slot_millis", "cache_hit", "statement_type"} <= set(summary)
    assert gcp.job_log()["running_answers"][summary["job_id"]] >= 2, "the job was polled by the trigger while RUNNING"
    labels = inserts_for(gcp, summary["job_id"])[0]["labels"]
    assert labels["dbt-node"] == "customers"
    assert labels["airflow-dag"] == "op_defer"
    assert labels["airflow-task"] == "customers_run"

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        uris = {event.asset.uri for event in events}
    assert uris == {f"bigquery://{gcp.project}/{dataset}/dim_customers"}


def test_a_resumed_task_does_not_read_the_store_again_fault_injected(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    """The SQL is fetched once per try: after the trigger the task completes from its job, even if the run's
    artifacts are gone by then (deleted right after the submit: no real part deletes at that exact point), and the
    Rendered Template still shows the SQL BigQuery ran."""
    gcp.set_job_latency(3.0)
    sql = f"create or replace table `{dataset}.resumed` as select 1 as id"
    body = """
    from cosmos_remote.backends.bigquery.operators import DbtRunBigQueryOperator


    class ArtifactsDeletedWhileDeferred(DbtRunBigQueryOperator):
        def submit_job(self, context):
            job_id = super().submit_job(context)
            store, ref = self.artifacts.open(context["ti"])
            store.delete_run(uri=ref.uri)
            return job_id


    with DAG("op_resume", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> ArtifactsDeletedWhileDeferred(
            task_id="resumed.run", node=node("resumed"), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
    """
    dag_run = run_dag(
        gcp, airflow_dags_folder, dag_id="op_resume", dataset=dataset, scripts={"model.proj.resumed": sql}, body=body
    )
    assert states(dag_run) == {"publish": "success", "resumed.run": "success"}
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "resumed.run")
    summary = ti.xcom_pull(task_ids="resumed.run")
    assert summary["deferred"] is True
    assert summary["relation"] == f"{gcp.project}.{dataset}.resumed", "the published relation survives the resume"

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = RenderedTaskInstanceFields.get_templated_fields(ti, session=session)
    assert rendered is not None
    assert rendered["sql"] == sql


def test_provider_arguments_a_node_task_sets_itself_are_refused_at_parse() -> None:
    from cosmos_remote.artifacts.reference import ArtifactSource
    from cosmos_remote.backends.bigquery.operators import DbtRunBigQueryOperator
    from cosmos_remote.config import ProfileConfig
    from cosmos_remote.dbt.manifest import DbtNode
    from cosmos_remote.errors import ConfigError

    node = DbtNode(
        unique_id="model.p.a", resource_type="model", name="a", package_name="p", original_file_path="models/a.sql",
        materialized="table", relation=None, depends_on=(), tags=(), fqn=("p", "a"),
    )  # fmt: skip
    profile = ProfileConfig(profile_name="p", target_name="dev", conn_id="c", dataset="d", project="x")
    common: dict[str, Any] = {"node": node, "profile_config": profile, "artifacts": ArtifactSource("dbt_setup")}
    for argument, value in [("job_id", "mine"), ("reattach_states", {"RUNNING"}), ("deferrable", False)]:
        with pytest.raises(ConfigError, match=rf"task 'a.run': operator_args\['{argument}'\] is not supported"):
            DbtRunBigQueryOperator(task_id="a.run", **common, **{argument: value})
    assert DbtRunBigQueryOperator(task_id="a.run", deferrable=True, **common).deferrable is True


def _retry_body(dag_id: str, fault: str) -> str:
    """A model task with one retry whose first try dies at ``fault`` (a fault injected into the real operator:
    no real part can kill a worker on demand at an exact point)."""
    return f"""
    from cosmos_remote.backends.bigquery.operators import DbtRunBigQueryOperator


    class FaultyFirstTry(DbtRunBigQueryOperator):
        def submit_job(self, context):
            job_id = super().submit_job(context)
            if {fault == "after_submit"!r} and context["ti"].try_number == 1:
                raise RuntimeError("worker lost right after submitting")
            return job_id

        def _finish(self, context, job, **kwargs):
            if {fault == "after_success"!r} and context["ti"].try_number == 1:
                raise RuntimeError("worker lost before recording the finished job")
            return super()._finish(context, job, **kwargs)


    with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> FaultyFirstTry(
            task_id="model.run", node=node("model"), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1,
            retries=1, retry_delay=timedelta(seconds=0))
    """


def test_retry_after_worker_lost_mid_job_reattaches_fault_injected(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    gcp.set_job_latency(6.0)
    scripts = {"model.proj.model": f"create or replace table `{dataset}.model` as select 1 as id"}
    dag_run = run_dag(
        gcp,
        airflow_dags_folder,
        dag_id="retry_running",
        dataset=dataset,
        scripts=scripts,
        body=_retry_body("retry_running", "after_submit"),
    )
    assert states(dag_run)["model.run"] == "success"
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "model.run")
    assert ti.try_number == 2
    attempts = inserts_for(gcp, "retry_running__model_run")
    assert [a["accepted"] for a in attempts] == [True], "the retry attached to the running job instead of a new one"
    assert ti.xcom_pull(task_ids="model.run")["job_id"] == attempts[0]["job_id"]


def test_retry_after_a_failed_job_submits_a_new_job(gcp: LocalGCP, airflow_dags_folder: Path, dataset: str) -> None:
    gcp.set_job_latency(1.0)
    # The first run of this script fails (one row in the table), the second succeeds (two rows).
    script = (
        f"create table if not exists `{dataset}.attempts` (n int64);\n"
        f"insert into `{dataset}.attempts` values (1);\n"
        f"select if((select count(*) from `{dataset}.attempts`) < 2, error('first attempt fails'), 1);"
    )
    body = """
    from datetime import timedelta
    with DAG("retry_failed", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> DbtRunAirflowAsyncFactoryOperator(
            task_id="model.run", node=node("model"), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1,
            retries=1, retry_delay=timedelta(seconds=0))
    """
    dag_run = run_dag(
        gcp,
        airflow_dags_folder,
        dag_id="retry_failed",
        dataset=dataset,
        scripts={"model.proj.model": script},
        body=body,
    )
    assert states(dag_run)["model.run"] == "success"
    attempts = inserts_for(gcp, "retry_failed__model_run")
    assert len(attempts) == 2
    assert all(a["accepted"] for a in attempts)
    assert attempts[0]["job_id"] != attempts[1]["job_id"]


def test_retry_after_a_succeeded_job_does_not_run_the_model_again_fault_injected(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    gcp.set_job_latency(1.0)
    scripts = {"model.proj.model": f"insert into `{dataset}.counter` values (1)"}
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project=gcp.project, credentials=AnonymousCredentials())
    client.query(f"create table `{dataset}.counter` (n int64)").result()
    dag_run = run_dag(
        gcp,
        airflow_dags_folder,
        dag_id="retry_succeeded",
        dataset=dataset,
        scripts=scripts,
        body=_retry_body("retry_succeeded", "after_success"),
    )
    assert states(dag_run)["model.run"] == "success"
    assert len(inserts_for(gcp, "retry_succeeded__model_run")) == 1
    assert [row.n for row in client.query(f"select count(*) as n from `{dataset}.counter`").result()] == [1]


def test_bad_sql_fails_the_task_with_bigquerys_error_and_spares_other_branches(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str, capfd: pytest.CaptureFixture[str]
) -> None:
    scripts = {
        "model.proj.broken": "select * from `no_such_dataset.no_such_table`",
        "model.proj.after_broken": "select 1",
        "model.proj.healthy": f"create or replace table `{dataset}.healthy` as select 1 as id",
    }
    body = """
    with DAG("op_failure", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        p = publish()
        kw = dict(profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
        broken = DbtRunAirflowAsyncFactoryOperator(task_id="broken.run", node=node("broken"), **kw)
        after = DbtRunAirflowAsyncFactoryOperator(task_id="after_broken.run", node=node("after_broken"), **kw)
        healthy = DbtRunAirflowAsyncFactoryOperator(task_id="healthy.run", node=node("healthy"), **kw)
        p >> broken >> after
        p >> healthy
    """
    dag_run = run_dag(gcp, airflow_dags_folder, dag_id="op_failure", dataset=dataset, scripts=scripts, body=body)
    assert dag_run.state == DagRunState.FAILED
    assert states(dag_run) == {
        "publish": TaskInstanceState.SUCCESS,
        "broken.run": TaskInstanceState.FAILED,
        "after_broken.run": TaskInstanceState.UPSTREAM_FAILED,
        "healthy.run": TaskInstanceState.SUCCESS,
    }
    (attempt,) = inserts_for(gcp, "op_failure__broken_run")
    output = capfd.readouterr()
    failure = f"dbt model model.proj.broken: BigQuery job {attempt['job_id']} failed: "
    assert failure in output.out + output.err
    line = next(x for x in (output.out + output.err).splitlines() if failure in x)
    assert "no_such" in line, "the message carries BigQuery's own error text"


def test_a_dag_run_recreated_with_the_same_run_id_builds_the_model_again(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    """Job ids are unique per task-instance try: a run deleted and triggered again with the same run id submits new
    jobs instead of attaching to the old run's finished ones."""
    import pendulum

    gcp.bigquery_client().query(f"create table `{dataset}.builds` (n int64)").result()
    scripts = {"model.proj.model": f"insert into `{dataset}.builds` values (1)"}
    body = """
    with DAG("op_recreated", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> DbtRunAirflowAsyncFactoryOperator(
            task_id="model.run", node=node("model"), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
    """
    when = pendulum.datetime(2026, 3, 1, tz="UTC")
    runs = [
        run_dag(gcp, airflow_dags_folder, dag_id="op_recreated", dataset=dataset, scripts=scripts, body=body,
                logical_date=when)
        for _ in range(2)
    ]  # fmt: skip
    assert runs[0].run_id == runs[1].run_id
    assert [states(run)["model.run"] for run in runs] == ["success", "success"]
    attempts = inserts_for(gcp, "op_recreated__model_run")
    assert [a["accepted"] for a in attempts] == [True, True], "the recreated run submitted its own job"
    rows = list(gcp.bigquery_client().query(f"select count(*) as n from `{dataset}.builds`").result())
    assert rows[0]["n"] == 2, "the model was built by both runs"


def test_a_job_that_fails_after_deferring_names_its_id_and_its_link_in_the_connections_project(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str, capfd: pytest.CaptureFixture[str]
) -> None:
    gcp.set_job_latency(3.0)
    body = """
    NO_PROJECT = ProfileConfig(profile_name="p", target_name="dev", conn_id="google_cloud_default", dataset=DATASET,
                               location="US")  # the project comes from the connection
    with DAG("op_late_failure", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> DbtRunAirflowAsyncFactoryOperator(
            task_id="late.run", node=node("late"), profile_config=NO_PROJECT, artifacts=ARTIFACTS, poll_interval=1)
    """
    scripts = {"model.proj.late": "select * from `no_such_dataset.no_such_table`"}
    dag_run = run_dag(gcp, airflow_dags_folder, dag_id="op_late_failure", dataset=dataset, scripts=scripts, body=body)
    assert states(dag_run)["late.run"] == TaskInstanceState.FAILED
    (attempt,) = inserts_for(gcp, "op_late_failure__late_run")
    assert gcp.job_log()["running_answers"][attempt["job_id"]] >= 1, "the job failed after the task deferred"
    output = "".join(capfd.readouterr())
    failure = f"dbt model model.proj.late: BigQuery job {attempt['job_id']} failed: "
    assert failure in output
    link_line = output[output.index(failure) :].splitlines()[1]
    assert attempt["job_id"] in link_line
    assert gcp.project in link_line
    assert "None" not in link_line


def _failure_count(sql: str) -> str:
    """dbt's wrapping of a test query (get_test_sql with the default warn_if/error_if ``!= 0``)."""
    return (
        "select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error "
        f"from (\n{sql}\n) dbt_internal_test"
    )


def test_test_task_fails_on_an_error_test_and_only_warns_on_a_warn_test(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project=gcp.project, credentials=AnonymousCredentials())
    client.query(f"create table `{dataset}.orders` as select * from unnest([1, 2, 2, 3]) as id").result()
    duplicates = f"select id from `{dataset}.orders` group by id having count(*) > 1"
    nulls = f"select id from `{dataset}.orders` where id is null"
    large = f"select id from `{dataset}.orders` where id > 1"
    scripts = {
        "model.proj.orders": "select 1",
        "test.proj.unique_orders_id": _failure_count(duplicates),
        "test.proj.not_null_orders_id": _failure_count(nulls),
        "test.proj.small_ids": _failure_count(large),
    }
    body = """
    with DAG("op_tests", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        p = publish()
        kw = dict(profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
        failing = DbtTestAirflowAsyncFactoryOperator(
            task_id="orders.test", node=node("orders"),
            tests=[TestSpec("test.proj.unique_orders_id", "unique_orders_id"),
                   TestSpec("test.proj.not_null_orders_id", "not_null_orders_id")], **kw)
        warning = DbtTestAirflowAsyncFactoryOperator(
            task_id="orders.warn_test", node=node("orders"),
            tests=[TestSpec("test.proj.small_ids", "small_ids", severity="WARN")], **kw)
        p >> [failing, warning]
    """
    dag_run = run_dag(gcp, airflow_dags_folder, dag_id="op_tests", dataset=dataset, scripts=scripts, body=body)
    assert states(dag_run)["orders.test"] == TaskInstanceState.FAILED
    assert states(dag_run)["orders.warn_test"] == TaskInstanceState.SUCCESS
    output = capfd.readouterr()
    text = output.out + output.err
    assert "FAIL unique_orders_id (test.proj.unique_orders_id): 1 failing row(s), severity ERROR" in text
    assert duplicates in text, "the failure message carries the compiled test SQL"
    assert "FAIL not_null_orders_id" not in text
    assert "WARN small_ids (test.proj.small_ids): 3 failing row(s), severity WARN" in text
    warn_ti = next(t for t in dag_run.get_task_instances() if t.task_id == "orders.warn_test")
    results = warn_ti.xcom_pull(task_ids="orders.warn_test")["tests"]
    assert results == {"test.proj.small_ids": {"status": "warn", "failures": 3, "severity": "WARN"}}


def test_what_a_user_reads_logs_in_words_rendered_fields_and_asset_extras(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The log says what ran and what it did, in units, never ``None``; a test task names each outcome; the
    Rendered Template shows the SQL once, the project and the artifacts; the asset event carries the job."""
    gcp.set_job_latency(2.0)
    gcp.bigquery_client().query(f"create table `{dataset}.ids` as select 1 as id").result()
    scripts = {
        "model.proj.shown": f"create or replace table `{dataset}.shown` as select 1 as id",
        "test.proj.not_null_shown_id": _failure_count(f"select id from `{dataset}.ids` where id is null"),
    }
    body = """
    with DAG("op_shown", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        kw = dict(profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
        run = DbtRunAirflowAsyncFactoryOperator(task_id="shown.run", node=node("shown"), **kw)
        spec = TestSpec("test.proj.not_null_shown_id", "not_null_shown_id")
        test = DbtTestAirflowAsyncFactoryOperator(task_id="shown.test", node=node("shown"), tests=[spec], **kw)
        publish() >> run >> test
    """
    dag_run = run_dag(gcp, airflow_dags_folder, dag_id="op_shown", dataset=dataset, scripts=scripts, body=body)
    assert states(dag_run) == {"publish": "success", "shown.run": "success", "shown.test": "success"}
    text = "".join(capfd.readouterr())
    ours = [line for line in text.splitlines() if "cosmos_remote.backends" in line]
    assert ours, "the operators log through their own loggers"
    assert [line for line in ours if "None" in line] == []
    assert "dbt model model.proj.shown: started BigQuery job" in text
    assert re.search(r"dbt model model.proj.shown done, job \S+: .*(processed|billed|slot ms)", text)
    assert "dbt tests of model.proj.shown (1 test): started BigQuery job" in text
    assert "dbt tests of model.proj.shown (1 test): 1 passed, 0 warned, 0 failed" in text
    assert "PASS not_null_shown_id (test.proj.not_null_shown_id): 0 failing row(s)" in text

    from airflow.models.asset import AssetEvent
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    run_ti = next(t for t in dag_run.get_task_instances() if t.task_id == "shown.run")
    summary = run_ti.xcom_pull(task_ids="shown.run")
    with create_session() as session:
        rendered = RenderedTaskInstanceFields.get_templated_fields(run_ti, session=session)
        (event,) = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        extra = dict(event.extra)
    assert rendered is not None
    assert rendered["sql"] == scripts["model.proj.shown"]
    assert rendered["project_id"] == gcp.project
    assert rendered["artifact_uri"] == summary["artifacts"]
    assert summary["artifacts"].startswith(f"gs://{gcp.bucket}/ops/op_shown/")
    assert "create or replace" not in json.dumps(rendered["job_configuration"]), "the query is shown once"
    assert extra["job_id"] == summary["job_id"]
    assert extra["artifacts"] == summary["artifacts"]
    assert extra["relation"] == f"{gcp.project}.{dataset}.shown"
    assert f"project={gcp.project}" in summary["job_link"] or gcp.project in summary["job_link"]


def test_without_remote_target_path_the_sql_goes_through_xcom(
    gcp: LocalGCP, airflow_dags_folder: Path, dataset: str
) -> None:
    gcp.set_job_latency(1.0)
    scripts = {"model.proj.small": f"create or replace table `{dataset}.small` as select 7 as id"}
    body = """
    with DAG("op_xcom", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        publish() >> DbtRunAirflowAsyncFactoryOperator(
            task_id="small.run", node=node("small"), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
    """
    dag_run = run_dag(
        gcp, airflow_dags_folder, dag_id="op_xcom", dataset=dataset, scripts=scripts, body=body, root=None
    )
    assert states(dag_run) == {"publish": "success", "small.run": "success"}
    publish_ti = next(t for t in dag_run.get_task_instances() if t.task_id == "publish")
    assert publish_ti.xcom_pull(task_ids="publish")["uri"].startswith("xcom://")
    rows = list(gcp.bigquery_client().query(f"select id from `{dataset}.small`").result())
    assert [row.id for row in rows] == [7]
