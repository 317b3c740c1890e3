"""The setup task in a real ``dag.test()``: when dbt fails on one node after others were rendered (and uploaded
while dbt went on), the task fails naming that node, and nothing stays under the run prefix: no index, no files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import fsspec
import pytest

from cosmos_remote.testing import LocalGCP, emulator_profiles_yml
from cosmos_remote.testing.airflow import load_dag

DAG_FILE = """
# an Airflow DAG file (the DagBag reads only files that say so)
from pathlib import Path

import pendulum

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

PROJECT = Path({project!r})
dag = DbtDag(
    dag_id={dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    project_config=ProjectConfig(dbt_project_path=PROJECT),
    profile_config=ProfileConfig(
        profile_name={profile_name!r}, target_name="dev", profiles_yml_filepath=PROJECT / "profiles.yml",
        conn_id="google_cloud_default",
    ),
    execution_config=ExecutionConfig(remote_target_path={root!r}, remote_target_path_conn_id="google_cloud_default"),
)
"""


def _project(root: Path) -> Path:
    files = {
        "dbt_project.yml": "name: probe\nversion: '1.0'\nconfig-version: 2\nprofile: probe\n",
        "profiles.yml": emulator_profiles_yml("probe", dataset="setup_failure", threads=1),
        **{f"models/upstream_{i}.sql": f"select {i} as id" for i in range(4)},
        # renders fine at parse time; fails when dbt compiles it for the run, after its upstream models
        "models/broken.sql": textwrap.dedent(
            """
            {% if execute %}{{ exceptions.raise_compiler_error("broken on purpose") }}{% endif %}
            select * from {{ ref('upstream_0') }} join {{ ref('upstream_1') }} using (id)
            join {{ ref('upstream_2') }} using (id) join {{ ref('upstream_3') }} using (id)
            """
        ),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_failing_render_fails_the_setup_task_and_leaves_nothing_under_the_run_prefix(
    gcp: LocalGCP, airflow_dags_folder: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    gcp.create_dataset("setup_failure")
    project = _project(tmp_path / "probe")
    root = f"{gcp.remote_target_path}/setup-failure"
    (airflow_dags_folder / "setup_failure.py").write_text(
        DAG_FILE.format(dag_id="setup_failure", profile_name="probe", project=str(project), root=root)
    )
    dag_run = load_dag(airflow_dags_folder, "setup_failure").test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["dbt_setup"] == "failed"
    # the last task runs whatever happened, finds no published run, writes nothing and fails the run with it
    assert states.pop("dbt_run_results") == "failed"
    assert {state for task, state in states.items() if task != "dbt_setup"} == {"upstream_failed"}
    output = "".join(capfd.readouterr())  # dag.test() logs the task's error to the console
    assert "model.probe.broken" in output
    assert "broken on purpose" in output
    fs = fsspec.filesystem("gs", token="anon", endpoint_url=gcp.gcs_endpoint, skip_instance_cache=True)
    assert fs.find(root.removeprefix("gs://")) == []


def test_a_profile_name_other_than_dbt_project_ymls_is_used_by_parse_and_by_the_setup_task(
    gcp: LocalGCP, airflow_dags_folder: Path, tmp_path: Path
) -> None:
    """dbt_project.yml says ``profile: probe``; profiles.yml only has ``warehouse``, which ProfileConfig names: both
    ``dbt parse`` and the setup task's render must use it (as ``--profile``), and the models get built."""
    gcp.create_dataset("profile_mismatch")
    project = tmp_path / "probe"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: probe\nversion: '1.0'\nconfig-version: 2\nprofile: probe\n")
    (project / "profiles.yml").write_text(emulator_profiles_yml("warehouse", dataset="profile_mismatch", threads=1))
    (project / "models" / "first.sql").write_text("select 1 as id")
    (project / "models" / "second.sql").write_text("select id from {{ ref('first') }}")
    root = f"{gcp.remote_target_path}/profile-mismatch"
    (airflow_dags_folder / "profile_mismatch.py").write_text(
        DAG_FILE.format(dag_id="profile_mismatch", profile_name="warehouse", project=str(project), root=root)
    )
    dag_run = load_dag(airflow_dags_folder, "profile_mismatch").test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success", states
    rows = list(gcp.bigquery_client().query("select id from `profile_mismatch.second`").result())
    assert [row["id"] for row in rows] == [1]
