"""Worker-slot time per dbt model: deferrable BigQuery jobs vs jobs waited for on the worker.

Everything runs for real on loopback: a full Airflow 3 deployment (:func:`cosmos_remote.testing.airflow_cluster`:
scheduler with LocalExecutor, triggerer, dag-processor, api-server, SQLite) and the BigQuery/GCS emulators, where
every query job stays RUNNING for ``JOB_LATENCY`` seconds (:func:`cosmos_remote.testing.local_gcp`). Each DAG is one
publishing task plus N model tasks that fetch their SQL from gs:// and run it as one BigQuery job.

Modes:

* ``deferrable``: ``DbtRunAirflowAsyncFactoryOperator`` (submits, defers, resumes when the triggerer sees the job end),
  on a cluster whose scheduler preloads the operator's modules (``airflow_cluster(preload=...)``), so the task
  processes LocalExecutor forks from it do not import the Google provider again to parse the DAG file.
* ``blocking``: the same model task, but ``execute`` waits for the job on the worker (what ``deferrable=False``
  operators do), on the same cluster. Fewer models (``BLOCKING_MODELS``: two full waves of the 4 slots) keep the run
  short; the per-model figures do not depend on the count.
* ``deferrable, no preload``: ``deferrable`` on a second cluster with Airflow's defaults, where every task start (two
  per deferrable model) imports the Google provider while its task is already ``running``. ``BLOCKING_MODELS`` too.

Slot-seconds per model = seconds its task instance spent in state ``running`` (metadata DB sampled every 0.1 s,
both halves of a deferred task added). ``executor s`` = seconds a LocalExecutor worker was held for the model, from
the scheduler log's ``Workload finished ... duration=`` lines: it also counts the task supervisor noticing its task
process ended, which Airflow 3.3 may do only at its next ``[workers] min_heartbeat_interval`` (5 s) check.

Run: ``make bench BENCH=slots`` (or ``python -m benchmarks slots``). Writes ``benchmarks/results/slots.json``.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from benchmarks._common import machine_info, write_results
from cosmos_remote.testing import LocalGCP, local_gcp
from cosmos_remote.testing.airflow_cluster import AirflowCluster, airflow_cluster

JOB_LATENCY: Final = 30.0
PARALLELISM: Final = 4
DEFERRABLE_MODELS: Final = 20
BLOCKING_MODELS: Final = 8
TARGET_SLOT_S: Final = 1.0
SAMPLE_INTERVAL: Final = 0.1
PRELOAD: Final = (
    "cosmos_remote.backends.bigquery.operators",
    "cosmos_remote.artifacts",
    "cosmos_remote.dbt.manifest",
    "gcsfs",
)
RESULTS: Final = Path(__file__).parent / "results" / "slots.json"
_WORKLOAD: Final = re.compile(r"Workload finished.*?duration=([0-9.]+).*?workload_id=([0-9a-fA-F-]+)")

DAG_TEMPLATE: Final = textwrap.dedent(
    """
    from __future__ import annotations

    import json

    import pendulum
    from airflow.sdk import DAG, task

    from cosmos_remote.artifacts import NodeArtifact, RunScope, artifact_store
    from cosmos_remote.config import ProfileConfig
    from cosmos_remote.dbt.manifest import DbtNode, Relation
    from cosmos_remote.artifacts.factory import StoreChoice
    from cosmos_remote.artifacts.reference import ArtifactSource, store_reference
    from cosmos_remote.backends.bigquery.operators import DbtRunBigQueryOperator
    from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator

    ROOT, PROJECT, DATASET = {root!r}, {project!r}, {dataset!r}
    MODELS = {models!r}
    PROFILE = ProfileConfig(profile_name="p", target_name="dev", conn_id="google_cloud_default", dataset=DATASET,
                            project=PROJECT, location="US")
    ARTIFACTS = ArtifactSource(setup_task_id="publish")


    class BlockingDbtRun(DbtRunBigQueryOperator):
        # The same model task, but it waits for its job on the worker, as deferrable=False operators do.
        def execute(self, context):
            self.submit_job(context)
            job = self.bigquery_job
            job.result()
            return self._finish(context, job)


    def node(name):
        return DbtNode(unique_id=f"model.bench.{{name}}", resource_type="model", name=name, package_name="bench",
                       original_file_path=f"models/{{name}}.sql", materialized="table",
                       relation=Relation(PROJECT, DATASET, name), depends_on=(), tags=(), fqn=("bench", name))


    @task(task_id="publish")
    def publish(**context):
        store = artifact_store(remote_target_path=ROOT, conn_id="google_cloud_default")
        nodes = [NodeArtifact(unique_id=f"model.bench.{{m}}",
                              files={{"script": f"create or replace table `{{DATASET}}.{{m}}` as select 1 as id"}})
                 for m in MODELS]
        scope = RunScope(dag_id=context["dag"].dag_id, run_id=context["run_id"])
        ref = store.publish(scope=scope, nodes=nodes, project_name="bench", dbt_version="1.11")
        return store_reference(ref, StoreChoice(ROOT, "google_cloud_default" if ROOT else None, "test DAG"))


    with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), max_active_tasks=64):
        p = publish()
        for m in MODELS:
            p >> {operator}(task_id=f"{{m}}.run", node=node(m), profile_config=PROFILE, artifacts=ARTIFACTS,
                            poll_interval=1)
    """
)


def write_dag(folder: Path, gcp: LocalGCP, *, dag_id: str, dataset: str, models: int, operator: str) -> None:
    """One DAG file: ``publish`` then ``models`` independent model tasks of class ``operator``."""
    names = [f"{dag_id}_{i:02d}" for i in range(models)]
    source = DAG_TEMPLATE.format(
        root=f"gs://{gcp.bucket}/slots",
        project=gcp.project,
        dataset=dataset,
        models=names,
        dag_id=dag_id,
        operator=operator,
    )
    (folder / f"{dag_id}.py").write_text(source)


def executor_seconds(cluster: AirflowCluster, dag_id: str, run_id: str, workloads: int) -> dict[str, float]:
    """Seconds a LocalExecutor worker was held per task of the run (waits up to 15 s for ``workloads`` log lines)."""
    engine = sa.create_engine(f"sqlite:///file:{cluster.home / 'airflow.db'}?mode=ro&uri=true", poolclass=sa.NullPool)
    sql = "select id, task_id from task_instance where dag_id = :d and run_id = :r"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {"d": dag_id, "r": run_id}).all()
    names = {str(ti_id).replace("-", ""): str(task) for ti_id, task in rows}
    deadline = time.monotonic() + 15
    while True:
        found = [
            (names[ti_id.replace("-", "")], float(duration))
            for duration, ti_id in _WORKLOAD.findall(cluster.logs["scheduler"].read_text("utf-8", "replace"))
            if ti_id.replace("-", "") in names
        ]
        if len(found) >= workloads or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    held = dict.fromkeys(names.values(), 0.0)
    for task, duration in found:
        held[task] += duration
    return held


def _dag_id(mode: str) -> str:
    return mode.replace(", ", "_").replace(" ", "_")


def measure(cluster: AirflowCluster, *, mode: str, models: int, workloads_per_model: int) -> dict[str, Any]:
    """Trigger the mode's DAG, sample its task states until it ends, and summarise the model tasks."""
    dag_id = _dag_id(mode)
    started = time.monotonic()
    run_id = cluster.trigger(dag_id)
    with cluster.record_states(dag_id, run_id, interval=SAMPLE_INTERVAL) as samples:
        state = cluster.wait(dag_id, run_id, timeout=900)
    wall = time.monotonic() - started
    if state != "success":
        raise RuntimeError(f"{mode}: run {run_id} of {dag_id} ended {state}: {cluster.task_states(dag_id, run_id)}")
    running = {task: s for task, s in samples.seconds_in("running").items() if task != "publish"}
    held = executor_seconds(cluster, dag_id, run_id, workloads=models * workloads_per_model + 1)
    held.pop("publish", None)
    print(f"  {mode}: {models} models in {wall:.1f} s", flush=True)
    return {
        "mode": mode,
        "models": models,
        "job_latency_s": JOB_LATENCY,
        "wall_s": wall,
        "slot_s_mean": statistics.fmean(running.values()),
        "slot_s_max": max(running.values()),
        "executor_s_mean": statistics.fmean(held.values()),
        "executor_s_max": max(held.values()),
        "peak_deferred": samples.peak_deferred,
        "peak_running": samples.peak_running,
        "slot_s_per_model": running,
        "executor_s_per_model": held,
    }


def run() -> dict[str, Any]:
    """Both clusters, three modes; return the results document."""
    load_before = os.getloadavg()[0]
    rows = []
    with local_gcp(job_latency=JOB_LATENCY) as gcp, tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        dataset = f"slots_{uuid.uuid4().hex[:8]}"
        gcp.create_dataset(dataset)
        # (mode, models, operator, workloads per model: a deferrable task runs twice on a worker)
        deferrable = ("deferrable", DEFERRABLE_MODELS, "DbtRunAirflowAsyncFactoryOperator", 2)
        blocking = ("blocking", BLOCKING_MODELS, "BlockingDbtRun", 1)
        cold = ("deferrable, no preload", BLOCKING_MODELS, "DbtRunAirflowAsyncFactoryOperator", 2)
        for preload, modes in ((PRELOAD, [deferrable, blocking]), ((), [cold])):
            dags, home = Path(tmp) / f"dags{len(preload)}", Path(tmp) / f"airflow{len(preload)}"
            dags.mkdir()
            for mode, models, operator, _ in modes:
                write_dag(dags, gcp, dag_id=_dag_id(mode), dataset=dataset, models=models, operator=operator)
            print(f"starting Airflow (parallelism {PARALLELISM}, preload {bool(preload)}) ...", flush=True)
            with airflow_cluster(
                home=home, dags_folder=dags, parallelism=PARALLELISM, env=gcp.env, preload=preload
            ) as c:
                for mode, models, _, workloads in modes:
                    rows.append(measure(c, mode=mode, models=models, workloads_per_model=workloads))
    baseline = next(r for r in rows if r["mode"] == "blocking")
    for row in rows:
        row["ratio_vs_blocking"] = baseline["slot_s_mean"] / row["slot_s_mean"]
    return {
        "benchmark": "slots",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_before=load_before),
        "setup": {
            "airflow": "3.3.2 airflow_cluster: LocalExecutor + SQLite, scheduler/triggerer/dag-processor/api-server",
            "parallelism": PARALLELISM,
            "job_latency_s": JOB_LATENCY,
            "poll_interval_s": 1,
            "sample_interval_s": SAMPLE_INTERVAL,
            "preload": list(PRELOAD),
            "target_slot_s_deferrable": TARGET_SLOT_S,
            "slot_s": "seconds in state running per model task (metadata DB samples), both halves of a deferred task",
            "executor_s": "seconds a LocalExecutor worker was held per model (scheduler log 'Workload finished')",
        },
        "rows": rows,
    }


def print_table(result: dict[str, Any]) -> None:
    """The human-readable table."""
    load = result["machine"]["load_average_1m"]
    setup = result["setup"]
    print(f"\nworker-slot time per model, LocalExecutor parallelism {setup['parallelism']}, BigQuery emulator")
    print(f"{result['machine']['cpus']} CPUs, load average {load['start']:.1f} -> {load['end']:.1f}")
    header = (
        f"{'mode':<23} {'models':>6} {'latency':>8} {'wall s':>7} {'slot s mean':>12} {'max':>6} "
        f"{'executor s':>11} {'peak def':>9} {'peak run':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        print(
            f"{r['mode']:<23} {r['models']:>6} {r['job_latency_s']:>6.0f} s {r['wall_s']:>7.1f} "
            f"{r['slot_s_mean']:>12.2f} {r['slot_s_max']:>6.2f} {r['executor_s_mean']:>11.2f} "
            f"{r['peak_deferred']:>9} {r['peak_running']:>9} {r['ratio_vs_blocking']:>5.1f}x"
        )
    deferrable = result["rows"][0]
    met = "met" if deferrable["slot_s_mean"] <= setup["target_slot_s_deferrable"] else "NOT met"
    print(f"target <= {setup['target_slot_s_deferrable']:.0f} s slot time per deferrable model: {met}")
    print("slot s = seconds in state running (metadata DB); ratio = blocking slot s / this mode's slot s")
    print("executor s = seconds a LocalExecutor worker was held (includes the supervisor's exit detection)")


def main() -> None:
    """Run the benchmark, print the table, write benchmarks/results/slots.json."""
    result = run()
    print_table(result)
    write_results(RESULTS, result)


if __name__ == "__main__":
    main()
