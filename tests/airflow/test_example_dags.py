"""The example DAGs, run with dag.test() on the emulators, build the same tables as a plain ``dbt build``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbt.artifacts.schemas.manifest import WritableManifest
from dbt.artifacts.schemas.run import RunResultsArtifact

from cosmos_remote.artifacts import ArtifactRef, FsspecArtifactStore
from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow import load_dag

# Columns dbt fills with the wall clock or the invocation id: they differ between any two runs.
RUN_SPECIFIC_COLUMNS = {"dbt_valid_from", "dbt_valid_to", "dbt_updated_at", "dbt_scd_id", "invocation_id"}


@pytest.fixture(scope="module")
def example_dags_folder(airflow_dags_folder: Path) -> Path:
    """The example DAG files, linked into the session's DAGs folder (dag.test() runs only DAGs parsed from it)."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "dags"
    for source in examples.glob("*.py"):
        link = airflow_dags_folder / source.name
        if not link.exists():
            link.symlink_to(source)
    return airflow_dags_folder


@pytest.fixture(scope="module")
def dataset_env(local_gcp_session: LocalGCP) -> Iterator[Any]:
    """Point the example profile (``COSMOS_REMOTE_BQ_DATASET``) and remote_target_path at a dataset of the test."""
    saved = {k: os.environ.get(k) for k in ("COSMOS_REMOTE_BQ_DATASET", "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH")}

    def use(dataset: str) -> None:
        local_gcp_session.create_dataset(dataset)
        os.environ["COSMOS_REMOTE_BQ_DATASET"] = dataset
        os.environ["AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH"] = f"{local_gcp_session.remote_target_path}/{dataset}"

    yield use
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _client(gcp: LocalGCP) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=gcp.project, credentials=AnonymousCredentials())


def _tables(gcp: LocalGCP, dataset: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table and view under ``dataset`` and its custom-schema siblings, as sorted rows (by short name)."""
    client = _client(gcp)
    result: dict[str, list[tuple[Any, ...]]] = {}
    for suffix in ("", "_marts", "_snapshots"):
        name = dataset + suffix
        try:
            tables = list(client.list_tables(f"{gcp.project}.{name}"))
        except Exception:  # the dataset does not exist: nothing built there
            continue
        for table in tables:
            columns = [f.name for f in client.get_table(table).schema if f.name not in RUN_SPECIFIC_COLUMNS]
            rows = client.query(f"select {', '.join(columns)} from `{gcp.project}.{name}.{table.table_id}`").result()
            result[f"{suffix or '_'}.{table.table_id}"] = sorted(
                (tuple(str(v) for v in row.values()) for row in rows), key=str
            )
    return result


def _dbt_build(gcp: LocalGCP, dataset: str, project: Path, profiles: Path, *args: str) -> None:
    gcp.create_dataset(dataset)
    env = {**os.environ, "COSMOS_REMOTE_BQ_DATASET": dataset, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = Path(os.environ["AIRFLOW_HOME"]) / f"dbt-target-{dataset}"
    command = [sys.executable, "-c", "from dbt.cli.main import cli; cli()", "build", "--project-dir", str(project)]
    command += [
        "--profiles-dir",
        str(profiles),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        *args,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:]


def _task_summaries(dag_run: Any) -> dict[str, Any]:
    return {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()}


def test_dbt_dag_matches_plain_dbt_build(
    gcp: LocalGCP, example_dags_folder: Path, dataset_env: Any, example_project: Path, example_profiles: Path
) -> None:
    gcp.set_job_latency(1.0)
    dataset_env("example_dag")
    dag_run = load_dag(example_dags_folder, "jaffle_shop").test()
    assert dag_run.state == "success"
    summaries = _task_summaries(dag_run)
    job_tasks = [t for t in summaries if t not in ("dbt_setup", "dbt_run_results")]
    assert len(job_tasks) == 18
    assert all(summaries[t]["deferred"] for t in job_tasks), "every model/seed/snapshot/test task deferred"
    assert summaries["customers.run"]["relation"] == f"{gcp.project}.example_dag_marts.dim_customers"
    # the setup task uploaded while dbt rendered, then committed: the run holds exactly what its index lists
    store = FsspecArtifactStore(root=gcp.remote_target_path, storage_options={"token": "anon"})
    ref = ArtifactRef.from_xcom(summaries["dbt_setup"])
    report = store.verify(ref=ref)
    assert report.ok, report.problems
    assert report.files_checked == sum(len(node.files) for node in store.read_index(ref=ref).nodes.values())
    # dbt's own artifacts next to the index: the manifest the setup task rendered from, and the run's results
    manifest = WritableManifest.from_dict(json.loads(store.read_dbt_artifact(uri=ref.uri, name="manifest.json")))
    assert "model.jaffle_shop.orders" in manifest.nodes
    results = RunResultsArtifact.from_dict(json.loads(store.read_dbt_artifact(uri=ref.uri, name="run_results.json")))
    statuses = {r.unique_id: str(r.status) for r in results.results}
    assert statuses["model.jaffle_shop.orders"] == "success"
    assert statuses["test.jaffle_shop.unique_orders_order_id.fed79b3a6e"] == "pass"
    assert len(statuses) == 11 + sum(len(s.get("tests", {})) for s in summaries.values() if isinstance(s, dict))
    orders = next(r for r in results.results if r.unique_id == "model.jaffle_shop.orders")
    assert orders.adapter_response["job_id"] == summaries["orders.run"]["job_id"]
    assert orders.relation_name == f"`{gcp.project}`.`example_dag_marts`.`orders`"
    _dbt_build(gcp, "reference", example_project, example_profiles)
    built, reference = _tables(gcp, "example_dag"), _tables(gcp, "reference")
    assert "_marts.dim_customers" in reference
    assert built.keys() == reference.keys()
    for table in reference:
        assert built[table] == reference[table], table


def test_task_group_dag_runs_between_its_tasks(
    gcp: LocalGCP, example_dags_folder: Path, dataset_env: Any, example_project: Path, example_profiles: Path
) -> None:
    gcp.set_job_latency(1.0)
    dataset_env("example_group")
    dag_run = load_dag(example_dags_folder, "jaffle_shop_pipeline").test()
    assert dag_run.state == "success"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["extract"] == states["report"] == states["transform.dbt_setup"] == "success"
    assert "transform.orders.run" in states
    assert not any("snapshot" in t for t in states), "the group excludes snapshots"
    _dbt_build(gcp, "reference_group", example_project, example_profiles, "--exclude", "resource_type:snapshot")
    built, reference = _tables(gcp, "example_group"), _tables(gcp, "reference_group")
    assert built == reference
