"""docs/writing-a-backend.md is true: its ``toyfs`` backend, installed as the page writes it (a real distribution
with an entry point), runs a DAG through every seam of the backend contract: the registry, the parse-time
target, the profile built from a connection, the render-capture package, the operators, the assets and the links."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_remote.backends import WarehouseBackend, get_backend, registered_backends
from cosmos_remote.testing.airflow import load_dag

PAGE = Path(__file__).parents[2] / "docs" / "writing-a-backend.md"

DAG_FILE = """
# an Airflow DAG file
from pathlib import Path

import pendulum

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

PROJECT = Path({project!r})
dag = DbtDag(
    dag_id="toy",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    project_config=ProjectConfig(dbt_project_path=PROJECT, manifest_path=PROJECT / "target" / "manifest.json"),
    profile_config=ProfileConfig("toy", "dev", conn_id="toyfs_default", profile_type="toyfs", dataset="analytics"),
    execution_config=ExecutionConfig(remote_target_path={root!r}),
)
"""


def page_files() -> dict[str, str]:
    """The page's Python blocks whose first line names their file (``# toyfs_backend/operators.py``)."""
    blocks = re.findall(r"```python\n# (\S+\.py)\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    return {path: body for path, body in blocks}


@pytest.fixture
def toyfs_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The page's package on sys.path with a dist-info whose entry point registers it; returns the warehouse root."""
    site = tmp_path / "site"
    for relative, body in {**page_files(), "toyfs_backend/capture/__init__.py": ""}.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(body)
    dist = site / "toyfs_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyfs-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cosmos_remote.backends]\ntoyfs = toyfs_backend:BACKEND\n")
    monkeypatch.syspath_prepend(str(site))
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("AIRFLOW_CONN_TOYFS_DEFAULT", json.dumps({"conn_type": "fs", "extra": {"root": str(warehouse)}}))
    registered_backends.cache_clear()
    yield warehouse
    registered_backends.cache_clear()
    for name in [m for m in sys.modules if m == "toyfs_backend" or m.startswith("toyfs_backend.")]:
        del sys.modules[name]


def _project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "target").mkdir()
    (root / "dbt_project.yml").write_text("name: toy\nversion: '1.0'\nconfig-version: 2\nprofile: toy\n")
    (root / "models" / "first.sql").write_text("select 1 as id")
    (root / "models" / "second.sql").write_text("select id from {{ ref('first') }}")

    def node(name: str, parents: list[str]) -> dict[str, object]:
        return {
            "unique_id": f"model.toy.{name}", "resource_type": "model", "name": name, "package_name": "toy",
            "original_file_path": f"models/{name}.sql", "database": "toy", "schema": "analytics",
            "config": {"materialized": "table"}, "depends_on": {"nodes": parents}, "fqn": ["toy", name],
        }  # fmt: skip

    manifest = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.11.0",
            "project_name": "toy",
            "adapter_type": "toyfs",
        },
        "nodes": {"model.toy.first": node("first", []), "model.toy.second": node("second", ["model.toy.first"])},
    }
    (root / "target" / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_the_page_names_every_member_of_the_contract() -> None:
    abstract = set(WarehouseBackend.__abstractmethods__) | {"profile_type", "run_operator", "test_operator"}
    text = PAGE.read_text()
    assert {name for name in abstract if f"`{name}" not in text} == set()


def test_the_toy_backend_of_the_page_runs_a_dag_through_every_seam(
    toyfs_installed: Path, airflow_dags_folder: Path, tmp_path: Path
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    backend = get_backend("toyfs")
    assert type(backend).__name__ == "ToyFsBackend"
    project = _project(tmp_path / "toy")
    root = f"file://{tmp_path / 'store'}"
    (airflow_dags_folder / "toy.py").write_text(textwrap.dedent(DAG_FILE.format(project=str(project), root=root)))
    dag = load_dag(airflow_dags_folder, "toy")
    assert type(dag.task_dict["second.run"]).__name__ == "ToyRunOperator"

    dag_run = dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {
        "dbt_setup": "success",
        "first.run": "success",
        "second.run": "success",
        "dbt_run_results": "success",
    }
    # the profile came from the connection (run_target), the capture package read its schema, the operator wrote
    # the published script where the connection points
    assert (toyfs_installed / "analytics" / "second.sql").read_text() == "select id from {{ ref('first') }}"
    summary = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "first.run").xcom_pull(
        task_ids="first.run"
    )
    assert summary["job_link"] == f"file://{toyfs_installed / 'analytics' / 'first.sql'}"
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        uris = {event.asset.uri for event in events}
    assert uris == {"toyfs://analytics/first", "toyfs://analytics/second"}
    assert list((tmp_path / "store").rglob("index.json")), "the run was published through the artifact store"
