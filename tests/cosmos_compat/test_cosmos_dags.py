"""DAG files written in astronomer-cosmos's idiom (only the imports changed) run under dag.test() on the emulators:
SQL in the bucket named by ``[cosmos] remote_target_path``, every BigQuery task deferred, tables equal to a plain
``dbt build``, jobs in the project the profile names even when the connection names another."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cosmos_remote.artifacts import ArtifactRef, FsspecArtifactStore
from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow import load_dag
from tests.airflow.test_example_dags import _tables

REPO = Path(__file__).resolve().parents[2]
CONN_ID = "gcp_gs_conn"

SIMPLE_DAG = """
import os
from datetime import datetime
from pathlib import Path

from cosmos_remote import DbtDag, ExecutionConfig, ExecutionMode, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.profiles import GoogleCloudServiceAccountDictProfileMapping

DBT_ROOT_PATH = Path(os.environ["COMPAT_DBT_ROOT"])

profile_config = ProfileConfig(
    profile_name="default",
    target_name="dev",
    profile_mapping=GoogleCloudServiceAccountDictProfileMapping(
        conn_id="gcp_gs_conn", profile_args={"dataset": "{dataset}", "project": "{project}"}
    ),
)

simple_dag_async = DbtDag(
    project_config=ProjectConfig(
        DBT_ROOT_PATH / "jaffle_shop",
    ),
    profile_config=profile_config,
    execution_config=ExecutionConfig(
        execution_mode=ExecutionMode.AIRFLOW_ASYNC,
        async_py_requirements=["dbt-bigquery==1.12.1"],
    ),
    render_config=RenderConfig(select=["path:models", "path:seeds"]),
    schedule_interval=None,
    start_date=datetime(2023, 1, 1),
    catchup=False,
    dag_id="compat_simple_dag_async",
    tags=["simple"],
    operator_args={"full_refresh": True, "location": "US", "install_deps": True, "virtualenv_dir": "/tmp/venv"},
)
"""

TASK_GROUP_DAG = """
import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from cosmos_remote import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.constants import ExecutionMode, TestBehavior
from cosmos_remote.profiles import GoogleCloudOauthProfileMapping

DBT_ROOT_PATH = Path(os.environ["COMPAT_DBT_ROOT"])

profile_config = ProfileConfig(
    profile_name="default",
    target_name="dev",
    profile_mapping=GoogleCloudOauthProfileMapping(
        conn_id="gcp_gs_conn", profile_args={"dataset": "{dataset}", "project": "{project}", "location": "US"}
    ),
)

with DAG(dag_id="compat_task_group_async", schedule=None, start_date=datetime(2023, 1, 1), catchup=False):
    @task
    def pre_dbt():
        return "ready"

    @task
    def post_dbt():
        return "done"

    transform = DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(DBT_ROOT_PATH / "with_packages", install_dbt_deps=True),
        profile_config=profile_config,
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.AIRFLOW_ASYNC),
        render_config=RenderConfig(test_behavior=TestBehavior.AFTER_EACH, exclude=["resource_type:snapshot"]),
        operator_args={"location": "US"},
    )
    pre_dbt() >> transform >> post_dbt()
"""

PACKAGE_MACRO = "{% macro cents_to_dollars(column) %}({{ column }} / 100){% endmacro %}\n"
PACKAGE_MODEL = (
    "select order_id, {{ compat_macros.cents_to_dollars('amount') }} as dollars from {{ ref('stg_payments') }}\n"
)


@pytest.fixture(scope="module")
def dbt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two projects: the example jaffle_shop, and a copy that uses a macro of a ``local:`` dbt package (not
    installed); the folder is read-only, as in a DAG bundle."""
    root = tmp_path_factory.mktemp("dbt-root")
    source = REPO / "examples" / "dbt" / "jaffle_shop"
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages")
    shutil.copytree(source, root / "jaffle_shop", ignore=ignore)
    project = shutil.copytree(source, root / "with_packages", ignore=ignore)
    (project / "packages.yml").write_text("packages:\n  - local: ../compat_macros\n")
    (project / "models" / "payments_in_dollars.sql").write_text(PACKAGE_MODEL)
    package = root / "compat_macros"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: compat_macros\nversion: '1.0'\nconfig-version: 2\n")
    (package / "macros" / "cents.sql").write_text(PACKAGE_MACRO)
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    yield root
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)


@pytest.fixture
def cosmos_env(local_gcp_session: LocalGCP, dbt_root: Path) -> Iterator[LocalGCP]:
    """Cosmos's settings and a connection whose project is NOT the one the profile names."""
    gcp = local_gcp_session
    extra = {"project": "conn-billing-project", "is_anonymous": True, "api_endpoint": gcp.bigquery_endpoint}
    values = {
        "COMPAT_DBT_ROOT": str(dbt_root),
        "AIRFLOW__COSMOS__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/cosmos-settings",
        "AIRFLOW__COSMOS__REMOTE_TARGET_PATH_CONN_ID": "google_cloud_default",
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps({"conn_type": "google_cloud_platform", "extra": extra}),
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    yield gcp
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _write_dag(folder: Path, name: str, template: str, **values: str) -> None:
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    (folder / name).write_text(textwrap.dedent(text))


def _reference_build(gcp: LocalGCP, project: Path, dataset: str, work: Path, *args: str) -> None:
    """A plain ``dbt build`` of a writable copy of ``project`` (``dbt deps`` first when it has packages)."""
    copy = shutil.copytree(project, work / project.name, ignore=shutil.ignore_patterns("target", "logs"))
    subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)
    packages = copy / "packages.yml"
    if packages.is_file():
        packages.write_text(packages.read_text().replace("../compat_macros", str(project.parent / "compat_macros")))
    profiles = work / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "default:\n  target: dev\n  outputs:\n    dev:\n      type: bigquery\n      method: oauth-secrets\n"
        f"      token: dummy\n      project: {gcp.project}\n      dataset: {dataset}\n"
        f"      api_endpoint: {gcp.bigquery_endpoint}\n      location: US\n      threads: 4\n"
    )
    gcp.create_dataset(dataset)
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt = [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]
    common = ["--project-dir", str(copy), "--profiles-dir", str(profiles), "--profile", "default"]
    if packages.is_file():
        deps = subprocess.run([*dbt, "deps", "--project-dir", str(copy)], env=env, capture_output=True, text=True)
        assert deps.returncode == 0, deps.stdout[-4000:]
    for command in ["build"]:
        result = subprocess.run([*dbt, command, *common, *args], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout[-4000:]


def _parse_warnings(folder: Path, file_name: str) -> list[str]:
    """The warnings Airflow's DagBag captured while parsing ``file_name`` (what the UI shows for the DAG file)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder / file_name))
    assert not bag.import_errors, bag.import_errors
    return [w for found in bag.captured_warnings.values() for w in found if "cosmos_remote" in w]


def _run(folder: Path, dag_id: str) -> tuple[Any, dict[str, Any]]:
    dag_run = load_dag(folder, dag_id).test()
    summaries = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()}
    return dag_run, summaries


@pytest.mark.slow
@pytest.mark.e2e
def test_cosmos_simple_dag_async_runs_with_only_imports_changed(
    cosmos_env: LocalGCP, airflow_dags_folder: Path, dbt_root: Path, tmp_path: Path
) -> None:
    gcp = cosmos_env
    gcp.set_job_latency(0.5)
    dataset = "compat_simple"
    gcp.create_dataset(dataset)
    _write_dag(airflow_dags_folder, "compat_simple_dag_async.py", SIMPLE_DAG, dataset=dataset, project=gcp.project)
    # one warning per ignored Cosmos argument, naming it, where Airflow shows parse warnings
    messages = _parse_warnings(airflow_dags_folder, "compat_simple_dag_async.py")
    assert sum("async_py_requirements" in m for m in messages) == 1, messages
    assert sum("virtualenv_dir" in m for m in messages) == 1, messages
    dag_run, summaries = _run(airflow_dags_folder, "compat_simple_dag_async")
    assert dag_run.state == "success", summaries
    # the SQL went to the bucket [cosmos] remote_target_path names, and the reference says why
    setup = summaries["dbt_setup"]
    assert setup["store"] == "fsspec"
    assert setup["reason"] == "[cosmos] remote_target_path"
    assert setup["uri"].startswith(f"{gcp.remote_target_path}/cosmos-settings/")
    store = FsspecArtifactStore(root=setup["root"], storage_options={"token": "anon"})
    assert store.verify(ref=ArtifactRef.from_xcom(setup)).ok
    job_tasks = [t for t in summaries if t not in ("dbt_setup", "dbt_run_results")]
    assert job_tasks
    assert all(summaries[t]["deferred"] for t in job_tasks)
    # the jobs ran in the profile's project, not the connection's (conn-billing-project does not exist)
    assert all(summaries[t]["project_id"] == gcp.project for t in job_tasks), summaries[job_tasks[0]]
    _reference_build(
        gcp, dbt_root / "jaffle_shop", "compat_simple_ref", tmp_path, "--select", "path:models", "path:seeds"
    )
    built, reference = _tables(gcp, dataset), _tables(gcp, "compat_simple_ref")
    assert reference
    assert built == reference


@pytest.mark.slow
@pytest.mark.e2e
def test_cosmos_task_group_with_local_package_runs(
    cosmos_env: LocalGCP, airflow_dags_folder: Path, dbt_root: Path, tmp_path: Path
) -> None:
    gcp = cosmos_env
    gcp.set_job_latency(0.5)
    dataset = "compat_group"
    gcp.create_dataset(dataset)
    _write_dag(airflow_dags_folder, "compat_task_group_async.py", TASK_GROUP_DAG, dataset=dataset, project=gcp.project)
    dag_run, summaries = _run(airflow_dags_folder, "compat_task_group_async")
    assert dag_run.state == "success", summaries
    assert summaries["transform.payments_in_dollars.run"]["deferred"]
    assert not (dbt_root / "with_packages" / "dbt_packages").exists(), "nothing is written into the project"
    _reference_build(
        gcp, dbt_root / "with_packages", "compat_group_ref", tmp_path, "--exclude", "resource_type:snapshot"
    )
    built, reference = _tables(gcp, dataset), _tables(gcp, "compat_group_ref")
    assert "_.payments_in_dollars" in reference
    assert built == reference
