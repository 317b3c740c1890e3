"""The example dbt project as a DbtDag: every model a deferrable BigQuery job, SQL published to the object store.

Settings come from the environment, so the same file runs on the local emulators (``make demo``) and on GCP:

* ``AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH`` — where SQL artifacts go, e.g. ``gs://my-bucket/cosmos``;
* ``COSMOS_REMOTE_BQ_PROJECT`` / ``COSMOS_REMOTE_BQ_DATASET`` — read by ``examples/dbt/profiles.yml``;
* the Airflow connection ``google_cloud_default`` — credentials for the BigQuery jobs and the bucket.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig, TestBehavior

DBT_ROOT = Path(__file__).resolve().parents[1] / "dbt"

dag = DbtDag(
    dag_id="jaffle_shop",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dbt", "cosmos_remote"],
    project_config=ProjectConfig(dbt_project_path=DBT_ROOT / "jaffle_shop"),
    profile_config=ProfileConfig(
        profile_name="jaffle_shop",
        target_name="dev",
        profiles_yml_filepath=DBT_ROOT / "profiles.yml",
        conn_id="google_cloud_default",
    ),
    execution_config=ExecutionConfig(remote_target_path_conn_id="google_cloud_default"),
    render_config=RenderConfig(test_behavior=TestBehavior.AFTER_EACH),
    operator_args={"poll_interval": 1, "retries": 1},
)
