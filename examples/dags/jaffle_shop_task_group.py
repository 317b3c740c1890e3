"""The example dbt project as a DbtTaskGroup between two ordinary tasks of a plain DAG."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from cosmos_remote import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

DBT_ROOT = Path(__file__).resolve().parents[1] / "dbt"

with DAG(
    dag_id="jaffle_shop_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dbt", "cosmos_remote"],
) as dag:

    @task
    def extract() -> str:
        """Stands for the load step that lands raw data before dbt runs."""
        return "raw data landed"

    @task
    def report(**context: object) -> str:
        """Runs once every model and test of the group succeeded."""
        return "report sent"

    transform = DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(dbt_project_path=DBT_ROOT / "jaffle_shop"),
        profile_config=ProfileConfig(
            profile_name="jaffle_shop",
            target_name="dev",
            profiles_yml_filepath=DBT_ROOT / "profiles.yml",
            conn_id="google_cloud_default",
        ),
        execution_config=ExecutionConfig(remote_target_path_conn_id="google_cloud_default"),
        render_config=RenderConfig(exclude=["resource_type:snapshot"]),
        operator_args={"poll_interval": 1},
    )
    extract() >> transform >> report()
