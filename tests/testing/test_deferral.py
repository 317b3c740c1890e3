"""The slow-warehouse harness makes the provider's deferrable BigQuery operator really defer inside dag.test()."""

from __future__ import annotations

import textwrap
from pathlib import Path

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow import load_dag

DAG_FILE = textwrap.dedent(
    """
    from __future__ import annotations

    import pendulum
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
    from airflow.sdk import DAG


    class RecordingInsertJobOperator(BigQueryInsertJobOperator):
        # execute_complete only runs when the task resumes from its trigger: keep the event as evidence.
        def execute_complete(self, context, event):
            context["ti"].xcom_push(key="trigger_event", value=event)
            return super().execute_complete(context, event)


    with DAG("provider_deferral", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        RecordingInsertJobOperator(
            task_id="answer",
            configuration={"query": {"query": "select 6 * 7 as answer", "useLegacySql": False}},
            deferrable=True,
            poll_interval=1,
            location="US",
        )
    """
)


def test_provider_operator_defers_and_succeeds_on_the_emulator(gcp: LocalGCP, airflow_dags_folder: Path) -> None:
    (airflow_dags_folder / "provider_deferral.py").write_text(DAG_FILE)
    gcp.set_job_latency(5.0)

    dag_run = load_dag(airflow_dags_folder, "provider_deferral").test()

    assert dag_run.state == "success"
    (ti,) = dag_run.get_task_instances()
    assert ti.state == "success"
    event = ti.xcom_pull(task_ids="answer", key="trigger_event")
    assert event is not None, "the task never resumed from a trigger: it did not defer"
    assert event["status"] == "success"
    job_id = ti.xcom_pull(task_ids="answer")
    assert job_id == event["job_id"]
    assert gcp.job_log()["running_answers"].get(job_id, 0) >= 2, "the trigger should have polled a RUNNING job"

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project=gcp.project, credentials=AnonymousCredentials())
    rows = list(client.get_job(job_id, location="US").result())
    assert [row.answer for row in rows] == [42]
