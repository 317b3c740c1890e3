"""OpenLineage events of the model tasks, through the provider's BigQuery lineage and Airflow's OpenLineage listener,
written by OpenLineage's file transport: each model's output dataset is its real relation (alias and custom schema
applied) and the run carries the BigQuery job id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cosmos_remote.testing import LocalGCP

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

RUNNER = """
import sys
from pathlib import Path
from cosmos_remote.testing.airflow import load_dag
dag_run = load_dag(Path(sys.argv[1]), "jaffle_shop").test()
print("STATE", dag_run.state)
"""


def _events(folder: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted(folder.iterdir()):
        for line in path.read_text().splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


@pytest.mark.slow
def test_each_model_task_emits_its_relation_and_job_as_openlineage(
    gcp: LocalGCP, airflow_dags_folder: Path, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "dags" / "jaffle_shop.py"
    if not (airflow_dags_folder / example.name).exists():
        (airflow_dags_folder / example.name).symlink_to(example)
    gcp.create_dataset("lineage")
    events_dir = tmp_path / "openlineage"
    events_dir.mkdir()
    transport = {"type": "file", "log_file_path": str(events_dir / "events"), "append": False}
    env = {
        **os.environ,
        **gcp.env,
        "COSMOS_REMOTE_BQ_DATASET": "lineage",
        "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/lineage",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "cosmos_remote_tests",
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(airflow_dags_folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "STATE success" in done.stdout, (done.stdout + done.stderr)[-4000:]
    completes = {
        event["job"]["name"]: event
        for event in _events(events_dir)
        if event.get("eventType") == "COMPLETE" and event["job"]["name"].startswith("jaffle_shop.")
    }
    orders = completes["jaffle_shop.orders.run"]
    outputs = {(d["namespace"], d["name"]) for d in orders["outputs"]}
    assert ("bigquery", f"{gcp.project}.lineage_marts.orders") in outputs, orders["outputs"]
    customers = completes["jaffle_shop.customers.run"]
    assert ("bigquery", f"{gcp.project}.lineage_marts.dim_customers") in {
        (d["namespace"], d["name"]) for d in customers["outputs"]
    }, "the alias is applied"
    job_id = orders["run"]["facets"]["externalQuery"]["externalQueryId"]
    assert job_id.startswith("cosmos_jaffle_shop__orders_run__")
