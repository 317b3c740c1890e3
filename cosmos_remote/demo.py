"""``make demo``: the example dbt project as a DbtDag on local emulators, no cloud account needed.

Starts the GCS and BigQuery emulators with a slow warehouse (every BigQuery job stays RUNNING for a few seconds, as
a real query would), runs the example ``jaffle_shop`` DAG twice with ``dag.test()`` (the second run takes the
incremental merge path) and prints a report. Everything it prints is read back after the runs from Airflow's
metadata DB, the artifact store and the BigQuery emulator.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cosmos_remote.artifacts import ArtifactRef, ArtifactStore, artifact_store
from cosmos_remote.testing import LocalGCP, local_gcp
from cosmos_remote.testing.airflow import isolated_airflow_env, load_dag, migrate_metadata_db

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "examples" / "dags"
DAG_ID = "jaffle_shop"
JOB_LATENCY = 2.0


def _run(gcp: LocalGCP, number: int) -> tuple[Any, float]:
    started = time.perf_counter()
    dag_run = load_dag(DAGS, DAG_ID).test()
    return dag_run, time.perf_counter() - started


def _report_run(dag_run: Any, seconds: float) -> dict[str, Any]:
    tis = sorted(dag_run.get_task_instances(), key=lambda ti: ti.task_id)
    states = Counter(str(ti.state) for ti in tis)
    deferred = []
    for ti in tis:
        value = ti.xcom_pull(task_ids=ti.task_id)
        if isinstance(value, dict) and value.get("deferred"):
            deferred.append(ti.task_id)
    setup = next(ti for ti in tis if ti.task_id == "dbt_setup")
    ref = setup.xcom_pull(task_ids="dbt_setup")
    print(f"\nRun {dag_run.run_id}: {dag_run.state} in {seconds:.0f} s")
    print(f"  tasks: {len(tis)} ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))})")
    print(f"  model/seed/snapshot/test tasks that deferred (worker slot freed while BigQuery ran): {len(deferred)}")
    print(f"  SQL artifacts of this run: {ref['uri']}")
    return {"ref": ref, "tis": tis}


def _artifact_paths(ref: dict[str, Any], store: ArtifactStore) -> list[tuple[str, str]]:
    index = store.read_index(ref=ArtifactRef.from_xcom(ref))
    wanted = ["model.jaffle_shop.orders_incremental", "model.jaffle_shop.customers", "seed.jaffle_shop.raw_orders"]
    return [(node, f"{ref['uri']}/{index.nodes[node].files['script'].path}") for node in wanted if node in index.nodes]


def _row_counts(gcp: LocalGCP, tis: list[Any]) -> list[tuple[str, int]]:
    client = gcp.bigquery_client()
    relations = sorted(
        {
            value["relation"]
            for ti in tis
            if isinstance(value := ti.xcom_pull(task_ids=ti.task_id), dict)
            and value.get("relation")
            and not ti.task_id.endswith(".test")
        }
    )
    counts = []
    for relation in relations:
        project, dataset, table = relation.split(".")
        rows = list(client.query(f"select count(*) as n from `{project}.{dataset}.{table}`").result())
        counts.append((relation, int(rows[0].n)))
    return counts


def _exists(store: ArtifactStore, uri: str, name: str) -> bool:
    from cosmos_remote.errors import DbtArtifactMissingError

    try:
        store.read_dbt_artifact(uri=uri, name=name)
    except DbtArtifactMissingError:
        return False
    return True


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="cosmos-remote-demo-"))
    os.environ.update(isolated_airflow_env(home, dags_folder=DAGS))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    print(f"Airflow home (SQLite metadata DB, logs): {home}")
    migrate_metadata_db()
    with local_gcp(job_latency=JOB_LATENCY, dataset="jaffle_shop") as gcp:
        os.environ["AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH"] = gcp.remote_target_path
        print(
            f"GCS emulator {gcp.gcs_endpoint}, BigQuery emulator {gcp.bigquery_endpoint}; every job RUNNING "
            f"{JOB_LATENCY:.0f} s"
        )
        print(f"remote_target_path = {gcp.remote_target_path}")
        reports = []
        for number in (1, 2):
            dag_run, seconds = _run(gcp, number)
            reports.append(_report_run(dag_run, seconds))
            if dag_run.state != "success":
                print(f"Run {number} did not succeed; see the task logs above.")
                return 1
        last = reports[-1]
        store = artifact_store(remote_target_path=gcp.remote_target_path, conn_id=gcp.conn_id)
        print("\nThree artifacts of the last run:")
        for node, path in _artifact_paths(last["ref"], store):
            print(f"  {node}\n    {path}")
        ref = ArtifactRef.from_xcom(last["ref"])
        first_ref = ArtifactRef.from_xcom(reports[0]["ref"])
        node = "model.jaffle_shop.orders_incremental"
        run1 = store.fetch(ref=first_ref, unique_id=node).decode().lower()
        run2 = store.fetch(ref=ref, unique_id=node).decode().lower()
        print(
            f"\n{node}: run 1 script creates the table: {'create or replace table' in run1}; "
            f"run 2 script merges: {'merge into' in run2}"
        )
        print("\nRows per table after run 2:")
        for relation, count in _row_counts(gcp, last["tis"]):
            print(f"  {relation:<55} {count:>5}")
        from cosmos_remote.cli import main as cli

        for command in (["ls", last["ref"]["uri"]], ["report", last["ref"]["uri"]]):
            print(f"\n$ cosmos-remote {' '.join(command)}", flush=True)
            cli([*command, "--conn-id", gcp.conn_id])
        dbt_files = [name for name in ("manifest.json", "run_results.json") if _exists(store, ref.uri, name)]
        print(f"\ndbt's artifacts next to the index: {', '.join(dbt_files) or 'none'}")
        print("\nThe same on a real bucket (the demo's emulators stop with it):")
        print(f"  cosmos-remote ls {last['ref']['uri']}")
        print(f"  cosmos-remote show {last['ref']['uri']} orders_incremental")
        print(f"  cosmos-remote report {last['ref']['uri']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
