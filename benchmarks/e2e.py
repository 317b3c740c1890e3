"""``make bench BENCH=e2e`` (and ``make e2e``): the production topology, and what survives when a part of it dies.

One cluster of CeleryExecutor (2 Celery workers, 4 slots each, each its own process group, directories and host
name), a PostgreSQL metadata DB, Redis and 2 triggerers, from Debian's and PyPI's packages, runs a generated project
of ``E2E_MODELS`` (50) independent models with ``retries=1`` on the local emulators, every BigQuery job held RUNNING
(45 s, 20 s, or until released). Scenarios, in order:

* ``normal``: one run; every task succeeds on its first try, peak deferred >= 40, worker seconds per model <= 1.5.
* ``concurrent_and_cleared``: three runs at once, then all model tasks of the first cleared and run again: each run
  its own prefix, the cleared tasks find their SQL, no model has two jobs in one try.
* ``bigquery_outage``: every BigQuery request answered 503 for 60 s while the models are deferred (and their jobs
  finish meanwhile): no task fails or retries.
* ``triggerer_killed``: the triggerer holding the most triggers is SIGKILLed while all models are deferred; the
  other takes its triggers over; every model succeeds with one job.
* ``worker_killed``: a Celery worker is SIGKILLed while model tasks run between submit and defer, and another while
  tasks resume; the retries reattach: one job per model; the run succeeds.

Writes ``benchmarks/results/e2e.json``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results
from benchmarks._wide_cluster import PRELOAD, jobs_per_model, write_wide_dag
from cosmos_remote.testing import LocalGCP, local_gcp
from cosmos_remote.testing.airflow_cluster import AirflowCluster, airflow_cluster

RESULTS: Final = Path(__file__).parent / "results" / "e2e.json"
MODELS: Final = int(os.environ.get("E2E_MODELS", "50"))
DAG: Final = "wide"
TOPOLOGY: Final = {"executor": "celery", "database": "postgres", "triggerers": 2, "workers": 2, "slots_per_worker": 4}
RUN_TIMEOUT: Final = 1200.0
# Faster failure detection than the defaults (30 s / 5 min / 10 min), so that the kill scenarios take minutes.
FAST_DETECTION: Final = {
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
}


def _models(states: dict[str, str | None]) -> list[str]:
    return [task for task in states if task.startswith("m_") and task.endswith(".run")]


def _wait_until(what: str, condition: Callable[[], bool], timeout: float, cluster: AirflowCluster) -> float:
    started = time.monotonic()
    while not condition():
        cluster.check_alive()
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not reached in {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def _count(cluster: AirflowCluster, run_id: str, state: str) -> int:
    return sum(1 for value in cluster.task_states(DAG, run_id).values() if value == state)


def _outcome(
    name: str, cluster: AirflowCluster, gcp: LocalGCP, runs: list[str], started: float, **extra: Any
) -> dict[str, Any]:
    states = {run: cluster.wait(DAG, run, timeout=RUN_TIMEOUT) for run in runs}
    failed, retried = [], []
    for run in runs:
        tasks, tries = cluster.task_states(DAG, run), cluster.task_tries(DAG, run)
        failed += [f"{run}:{task}" for task, value in tasks.items() if value != "success"]
        retried += [f"{run}:{task}" for task, count in tries.items() if count > 1]
    inserts = [i for i in gcp.job_log()["inserts"] if any(_job_run(run) in i["job_id"] for run in runs)]
    counts = jobs_per_model(inserts, per_try=extra.pop("per_try", False))
    result = {
        "name": name,
        "models": MODELS,
        "runs": len(runs),
        "run_states": sorted(set(states.values())),
        "jobs_per_model_max": max(counts.values(), default=0),
        "jobs_per_model_min": min(counts.values(), default=0),
        "model_jobs": len(counts),
        "failed_tasks": len(failed),
        "failed_task_ids": sorted(failed),
        "retried_tasks": len(retried),
        "wall_s": round(time.monotonic() - started, 1),
        **extra,
    }
    print(f"  {name}: {', '.join(f'{k}={v}' for k, v in result.items() if k not in ('name', 'failed_task_ids'))}")
    return result


def _job_run(run_id: str) -> str:
    """The run id as it appears in a job id (see ``job_id_prefix``)."""
    return "__" + re.sub(r"[^a-zA-Z0-9_-]", "_", run_id) + "__"


def _all_deferred(cluster: AirflowCluster, gcp: LocalGCP) -> tuple[str, float]:
    """Start a run with every job held RUNNING and wait until every model is deferred; the run id and start."""
    gcp.set_job_latency(1e9)
    started = time.monotonic()
    run = cluster.trigger(DAG)
    _wait_until("every model deferred", lambda: _count(cluster, run, "deferred") >= MODELS, 600, cluster)
    return run, started


def _finish_all(gcp: LocalGCP) -> None:
    """Let every job inserted so far be DONE."""
    gcp.finish_jobs([insert["job_id"] for insert in gcp.job_log()["inserts"] if insert["accepted"]])


def normal(cluster: AirflowCluster, gcp: LocalGCP) -> dict[str, Any]:
    gcp.set_job_latency(45.0)  # long enough for all models to be deferred at once on 8 slots
    started = time.monotonic()
    run = cluster.trigger(DAG)
    with cluster.record_states(DAG, run, interval=0.25) as recorder:
        cluster.wait(DAG, run, timeout=RUN_TIMEOUT)
    running = recorder.seconds_in("running")
    per_model = [running[task] for task in _models(cluster.task_states(DAG, run))]
    result = _outcome("normal", cluster, gcp, [run], started, peak_deferred=recorder.peak_deferred,
                      worker_s_per_model=round(sum(per_model) / max(1, len(per_model)), 2))  # fmt: skip
    result["ok"] = (
        result["run_states"] == ["success"] and not result["failed_tasks"] and result["retried_tasks"] == 0
        and result["peak_deferred"] >= 40 * MODELS // 50 and result["worker_s_per_model"] <= 1.5
        and result["jobs_per_model_max"] == 1 and result["model_jobs"] == MODELS
    )  # fmt: skip
    return result


def concurrent_and_cleared(cluster: AirflowCluster, gcp: LocalGCP) -> dict[str, Any]:
    gcp.set_job_latency(20.0)
    started = time.monotonic()
    runs = [cluster.trigger(DAG) for _ in range(3)]
    for run in runs:
        cluster.wait(DAG, run, timeout=RUN_TIMEOUT)
    first = runs[0]
    cluster.clear(DAG, first, _models(cluster.task_states(DAG, first)))
    _wait_until("the cleared run restarting", lambda: _count(cluster, first, "success") < MODELS, 60, cluster)
    result = _outcome("concurrent_and_cleared", cluster, gcp, runs, started, per_try=True)
    prefixes = {json.dumps(cluster.xcom(DAG, run, "dbt_setup"), sort_keys=True) for run in runs}
    result["run_prefixes"] = len(prefixes)
    result["ok"] = (
        result["run_states"] == ["success"] and not result["failed_tasks"] and result["jobs_per_model_max"] == 1
        and result["model_jobs"] == 4 * MODELS and len(prefixes) == 3
    )  # fmt: skip
    return result


def bigquery_outage(cluster: AirflowCluster, gcp: LocalGCP) -> dict[str, Any]:
    run, started = _all_deferred(cluster, gcp)
    gcp.bigquery_outage(60.0)
    time.sleep(20)
    _finish_all(gcp)  # DONE during the outage
    result = _outcome("bigquery_outage", cluster, gcp, [run], started, outage_s=60.0)
    result["ok"] = (
        result["run_states"] == ["success"] and not result["failed_tasks"] and result["retried_tasks"] == 0
        and result["jobs_per_model_max"] == 1
    )  # fmt: skip
    return result


def triggerer_killed(cluster: AirflowCluster, gcp: LocalGCP) -> dict[str, Any]:
    run, started = _all_deferred(cluster, gcp)
    _wait_until("every trigger assigned", lambda: sum(cluster.triggers_by_triggerer().values()) >= MODELS, 60, cluster)
    held = cluster.triggers_by_triggerer()
    victim = max(held, key=lambda name: held[name])
    cluster.kill(victim)
    survivor = next(name for name in cluster.logs if name.startswith("triggerer") and name != victim)
    takeover = _wait_until(
        f"{survivor} holding every trigger", lambda: cluster.triggers_by_triggerer().get(survivor, 0) >= MODELS, 180,
        cluster,
    )  # fmt: skip
    _finish_all(gcp)
    result = _outcome("triggerer_killed", cluster, gcp, [run], started, killed=victim, triggers_held=held,
                      takeover_s=round(takeover, 1))  # fmt: skip
    cluster.restart(victim)
    result["ok"] = (
        result["run_states"] == ["success"] and not result["failed_tasks"] and result["jobs_per_model_max"] == 1
        and result["model_jobs"] == MODELS
    )  # fmt: skip
    return result


def worker_killed(cluster: AirflowCluster, gcp: LocalGCP) -> dict[str, Any]:
    gcp.set_job_latency(1e9)
    started = time.monotonic()
    run = cluster.trigger(DAG)
    _wait_until("model tasks running", lambda: _count(cluster, run, "running") >= 4, 600, cluster)
    cluster.kill("worker-1")
    time.sleep(5)
    cluster.restart("worker-1")
    _wait_until("every model deferred", lambda: _count(cluster, run, "deferred") >= MODELS, 900, cluster)
    _finish_all(gcp)
    _wait_until("tasks resuming", lambda: _count(cluster, run, "running") >= 2, 300, cluster)
    cluster.kill("worker-2")
    time.sleep(5)
    cluster.restart("worker-2")
    _finish_all(gcp)
    result = _outcome("worker_killed", cluster, gcp, [run], started, killed=["worker-1", "worker-2"])
    tries = cluster.task_tries(DAG, run)
    job_tries: dict[str, int] = {}
    for insert in gcp.job_log()["inserts"]:
        match = re.match(r"cosmos_wide__(m_\d{4})_run__.*__(\d+)$", insert["job_id"])
        if insert["accepted"] and match and _job_run(run) in insert["job_id"]:
            job_tries[f"{match[1]}.run"] = int(match[2])
    # retried model tasks whose one job is of an earlier try: the retry reattached instead of submitting again
    result["retries_reattached"] = sum(1 for task, job_try in job_tries.items() if tries.get(task, 1) > job_try)
    result["ok"] = (
        result["run_states"] == ["success"] and not result["failed_tasks"] and result["jobs_per_model_max"] == 1
        and result["model_jobs"] == MODELS
    )  # fmt: skip
    return result


SCENARIOS: Final = (normal, concurrent_and_cleared, bigquery_outage, triggerer_killed, worker_killed)


def run_scenarios(names: list[str] | None = None) -> dict[str, Any]:
    """Start the topology once and run the scenarios (all, or those named); the results document."""
    scenarios = [s for s in SCENARIOS if names is None or s.__name__ in names]
    load_before = os.getloadavg()[0]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cosmos-remote-e2e-") as work, local_gcp() as gcp:
        root = Path(work)
        dags = write_wide_dag(root, MODELS, dag_id=DAG, retries=1)
        gcp.create_dataset("wide")
        env = {**gcp.env, "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/e2e",
               **FAST_DETECTION}  # fmt: skip
        started = time.monotonic()
        with airflow_cluster(
            home=root / "airflow", dags_folder=dags, env=env, preload=PRELOAD, timeout=300, executor="celery",
            database="postgres", triggerers=2, celery_workers=2, parallelism=TOPOLOGY["slots_per_worker"],
        ) as cluster:  # fmt: skip
            print(f"  topology up in {time.monotonic() - started:.0f} s: {TOPOLOGY}", flush=True)
            for scenario in scenarios:
                try:
                    results.append(scenario(cluster, gcp))
                except Exception as error:  # the others still run; this one is reported as not ok
                    results.append({"name": scenario.__name__, "ok": False, "error": f"{type(error).__name__}: "
                                    f"{error}"[:2000], "models": MODELS, "jobs_per_model_max": None,
                                    "failed_tasks": None, "wall_s": None})  # fmt: skip
                    print(f"  {scenario.__name__}: FAILED {results[-1]['error']}", flush=True)
                finally:
                    gcp.set_faults()
    return {
        "benchmark": "e2e",
        "description": __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
        "target": "every scenario ok",
        "met": all(r["ok"] for r in results),
        "topology": TOPOLOGY,
        "scenarios": results,
        "machine": machine_info(load_before=load_before),
    }


def main() -> None:
    document = run_scenarios()
    print(
        "\n| scenario | ok | wall s | jobs per model (max) | failed tasks | retried tasks |\n|---|---|---|---|---|---|"
    )
    for row in document["scenarios"]:
        failed = row["failed_tasks"] if row["failed_tasks"] is not None else "-"
        print(f"| {row['name']} | {row['ok']} | {row['wall_s']} | {row['jobs_per_model_max']} | {failed} | "
              f"{row.get('retried_tasks', '-')} |")  # fmt: skip
    write_results(RESULTS, document)
