"""A real cluster run of a wide DAG: hundreds of models deferred at once on one triggerer, with BigQuery API faults.

A scheduler, one triggerer, a dag-processor and an api-server (LocalExecutor, 8 worker slots) on the local emulators
run a generated dbt project of ``models`` independent views (``retries=0``: a task that needed a retry fails the
run). Every BigQuery job stays RUNNING until all models are deferred at once (or 20 minutes passed); then all are let
finish. From the start, a seeded ``fault_rate`` of all BigQuery API requests (inserts, polls, lists, results) is
answered 429 or 503 by local_gcp's proxy. Reported: whether every task succeeded on its first try, how many jobs the
proxy accepted (one per model is the target: a fault must not submit a job twice), the most tasks deferred at once,
how many faults were injected and how many polling retries the trigger logs show.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from cosmos_remote.dbt.manifest import parse_project
from cosmos_remote.testing import emulator_profiles_yml, local_gcp
from cosmos_remote.testing.airflow_cluster import airflow_cluster

__all__ = ["cluster_run", "jobs_per_model", "write_wide_dag"]

PRELOAD: Final = ("cosmos_remote.backends.bigquery.operators", "cosmos_remote.artifacts", "gcsfs")
SLOTS: Final = 8
HOLD_TIMEOUT: Final = 1200.0
RUN_TIMEOUT: Final = 3600.0
_DAG: Final = """# An Airflow DAG (Airflow's DAG discovery safe mode parses only files that say "airflow" and "dag").
import pendulum
from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

dag = DbtDag(
    dag_id={dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=2000,
    project_config=ProjectConfig(dbt_project_path={project!r}, manifest_path={manifest!r}),
    profile_config=ProfileConfig(
        profile_name="wide", target_name="dev", profiles_yml_filepath={profiles!r}, conn_id="google_cloud_default"
    ),
    execution_config=ExecutionConfig(remote_target_path_conn_id="google_cloud_default"),
    operator_args={{"poll_interval": 4, "retries": {retries}, "retry_delay": 5}},
)
"""


def _project(root: Path, models: int) -> tuple[Path, Path]:
    project, profiles = root / "wide", root / "profiles"
    (project / "models").mkdir(parents=True)
    profiles.mkdir()
    (project / "dbt_project.yml").write_text(
        "name: wide\nversion: '1.0'\nconfig-version: 2\nprofile: wide\nmodels:\n  wide:\n    +materialized: view\n"
    )
    for index in range(models):
        (project / "models" / f"m_{index:04d}.sql").write_text(f"select {index} as id\n")
    (profiles / "profiles.yml").write_text(emulator_profiles_yml("wide", dataset="wide"))
    return project, profiles


def write_wide_dag(root: Path, models: int, *, dag_id: str = "wide", retries: int = 0) -> Path:
    """A DAG file of a generated project of ``models`` independent views, in ``root / "dags"`` (returned); its
    manifest is parsed here, so DAG parse runs no dbt."""
    project, profiles = _project(root, models)
    manifest = parse_project(
        project_dir=project, profiles_dir=profiles, profile="wide", target="dev", cache_dir=root / "cache"
    )
    dags = root / "dags"
    dags.mkdir(exist_ok=True)
    (dags / f"{dag_id}.py").write_text(
        _DAG.format(
            dag_id=dag_id, project=str(project), manifest=str(manifest), profiles=str(profiles / "profiles.yml"),
            retries=retries,
        )
    )  # fmt: skip
    return dags


def jobs_per_model(inserts: list[dict[str, Any]], *, per_try: bool = False) -> dict[str, int]:
    """``{model task and DAG run (and try): accepted jobs}``, from the job ids: more than 1 is a model run twice in
    one DAG run (or one try)."""
    counts: dict[str, int] = {}
    for insert in inserts:
        if not insert["accepted"] or not re.search(r"__m_\d{4}_run__", insert["job_id"]):
            continue
        # the id ends __<try uuid>__<sha256 of the SQL, 16>__<try number> (see job_id_prefix and generate_job_id)
        key = re.sub(
            r"__[0-9a-f]{16}__\d+$" if per_try else r"__[0-9a-fA-F-]+__[0-9a-f]{16}__\d+$", "", insert["job_id"]
        )
        counts[key] = counts.get(key, 0) + 1
    return counts


def cluster_run(models: int, *, fault_rate: float) -> dict[str, Any]:
    """Run the wide DAG once; what the issue asks to report (see the module docs)."""
    with tempfile.TemporaryDirectory(prefix="cosmos-remote-wide-") as work, local_gcp() as gcp:
        root = Path(work)
        dags = write_wide_dag(root, models)
        gcp.create_dataset("wide")
        env = {**gcp.env, "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/wide"}
        with airflow_cluster(
            home=root / "airflow", dags_folder=dags, parallelism=SLOTS, env=env, preload=PRELOAD, timeout=300
        ) as cluster:
            gcp.set_job_latency(1e9)  # every job RUNNING until released below
            gcp.set_faults(fault_rate, seed=16, methods=gcp.API_METHODS)
            started = time.monotonic()
            run_id = cluster.trigger("wide")
            with cluster.record_states("wide", run_id, interval=1.0) as recorder:
                held_until = time.monotonic() + HOLD_TIMEOUT
                while time.monotonic() < held_until:
                    states = cluster.task_states("wide", run_id)
                    deferred = sum(1 for state in states.values() if state == "deferred")
                    if deferred >= models or any(state == "failed" for state in states.values()):
                        break
                    time.sleep(2.0)
                print(f"  {deferred} of {models} models deferred at once after {time.monotonic() - started:.0f} s")
                accepted = [insert["job_id"] for insert in gcp.job_log()["inserts"] if insert["accepted"]]
                gcp.set_job_latency(0.0)
                gcp.finish_jobs(accepted)
                state = cluster.wait("wide", run_id, timeout=RUN_TIMEOUT)
            seconds = time.monotonic() - started
            log = gcp.job_log()
            tries = cluster.task_tries("wide", run_id)
            states = cluster.task_states("wide", run_id)
            retries = _logged_poll_retries(cluster.home / "logs")
    model_tasks = [task for task in states if re.fullmatch(r"m_\d{4}\.run", task)]
    jobs = [insert for insert in log["inserts"] if insert["accepted"]]
    model_jobs = sum(jobs_per_model(log["inserts"]).values())
    result = {
        "models": models,
        "fault_rate": fault_rate,
        "succeeded": state == "success"
        and all(value == "success" for value in states.values())
        and all(count == 1 for count in tries.values()),
        "state": state,
        "tasks": len(states),
        "model_tasks": len(model_tasks),
        "failed_or_retried": sorted(t for t in states if states[t] != "success" or tries.get(t, 1) > 1),
        "jobs_submitted": model_jobs,
        "jobs_accepted_in_all": len(jobs),
        "insert_attempts_rejected_as_duplicates": sum(1 for insert in log["inserts"] if not insert["accepted"]),
        "peak_deferred": recorder.peak_deferred,
        "peak_running": recorder.peak_running,
        "requests": log["requests"],
        "faults_injected": log["faults"],
        "poll_retries_logged": retries,
        "seconds": round(seconds, 1),
        "worker_slots": SLOTS,
    }
    print(
        f"  cluster run: {state}, {len(states)} tasks, {model_jobs} model jobs for {models} models, peak deferred "
        f"{recorder.peak_deferred}, faults {log['faults']}, {retries} polling retries logged, {seconds:.0f} s"
    )
    return result


_RETRY_LINE: Final = re.compile(r"the job is not affected, polling again in")


def _logged_poll_retries(logs: Path) -> int:
    """How many "polling again" warnings the trigger log files hold."""
    count = 0
    for path in logs.rglob("*"):
        if path.is_file() and "trigger" in path.name:
            count += len(_RETRY_LINE.findall(path.read_text(errors="replace")))
    return count
