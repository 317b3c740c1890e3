"""``make demo``: the main job on local emulators, no cloud account needed.

Starts the GCS and BigQuery emulators with a slow warehouse (every job stays RUNNING for a few seconds), runs an
Airflow DAG with ``dag.test()`` and prints what ran. Everything it prints is read back from Airflow's metadata DB
and the emulators after the run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from pathlib import Path

from cosmos_remote.testing import local_gcp
from cosmos_remote.testing.airflow import isolated_airflow_env, load_dag, migrate_metadata_db

_DAG = textwrap.dedent(
    """
    from __future__ import annotations

    import pendulum
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
    from airflow.sdk import DAG

    with DAG("cosmos_remote_demo", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        for name, sql in {"answer": "select 6 * 7 as answer", "greeting": "select 'hello' as greeting"}.items():
            BigQueryInsertJobOperator(
                task_id=name,
                configuration={"query": {"query": sql, "useLegacySql": False}},
                deferrable=True,
                poll_interval=1,
                location="US",
            )
    """
)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="cosmos-remote-demo-"))
    os.environ.update(isolated_airflow_env(home))
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    (dags / "cosmos_remote_demo.py").write_text(_DAG)
    print(f"Airflow home: {home}")
    migrate_metadata_db()
    with local_gcp(job_latency=3) as gcp:
        print(f"GCS emulator: {gcp.gcs_endpoint}   BigQuery emulator: {gcp.bigquery_endpoint}")
        dag_run = load_dag(dags, "cosmos_remote_demo").test()
        log = gcp.job_log()
        print(f"\nDAG run {dag_run.run_id}: {dag_run.state}")
        for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.task_id):
            job_id = ti.xcom_pull(task_ids=ti.task_id)
            polls = log["running_answers"].get(job_id, 0)
            print(f"  {ti.task_id:<10} {ti.state:<8} job {job_id}  reported RUNNING {polls}x while deferred")
    return 0 if dag_run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
