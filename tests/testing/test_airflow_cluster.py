"""airflow_cluster(): a real Airflow 3 deployment runs deferrable model tasks, which free their worker slots."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from operators.dags import dag_file  # tests/operators/dags.py (tests/ is on sys.path through its conftest.py)

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow_cluster import AirflowClusterError, airflow_cluster

DAG_ID = "cluster_slots"
MODELS = [f"m{i}" for i in range(6)]
JOB_LATENCY = 10.0
# Imported once by the scheduler, so forked task processes parse the DAG file in ~0.1 s instead of seconds.
PRELOAD = (
    "cosmos_remote.backends.bigquery.operators",
    "cosmos_remote.artifacts",
    "cosmos_remote.dbt.manifest",
    "gcsfs",
)
BODY = f"""
with DAG({DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    p = publish()
    for name in {MODELS!r}:
        p >> DbtRunAirflowAsyncFactoryOperator(
            task_id=f"{{name}}.run", node=node(name), profile_config=PROFILE, artifacts=ARTIFACTS, poll_interval=1)
"""


def _processes_in_groups(groups: tuple[int, ...]) -> list[int]:
    """PIDs of live processes whose process group is one of ``groups`` (each component leads its own group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) in groups:
                    found.append(int(entry.name))
            except ProcessLookupError:
                continue
    return found


@pytest.mark.slow
def test_six_deferrable_models_run_on_two_worker_slots_and_the_cluster_stops(gcp: LocalGCP, tmp_path: Path) -> None:
    dataset = f"cluster_{uuid.uuid4().hex[:8]}"
    gcp.create_dataset(dataset)
    dags = tmp_path / "dags"
    dags.mkdir()
    scripts = {f"model.proj.{m}": f"create or replace table `{dataset}.{m}` as select 1 as id" for m in MODELS}
    source = dag_file(
        root=f"gs://{gcp.bucket}/cluster", project=gcp.project, dataset=dataset, scripts=scripts, body=BODY
    )
    (dags / f"{DAG_ID}.py").write_text(source)
    gcp.set_job_latency(JOB_LATENCY)

    started = time.monotonic()
    home = tmp_path / "airflow"
    with airflow_cluster(home=home, dags_folder=dags, parallelism=2, env=gcp.env, preload=PRELOAD) as cluster:
        ready = time.monotonic() - started
        run_id = cluster.trigger(DAG_ID)
        with cluster.record_states(DAG_ID, run_id, interval=0.2) as samples:
            state = cluster.wait(DAG_ID, run_id, timeout=120)
        task_states = cluster.task_states(DAG_ID, run_id)
        pids = cluster.pids
        logs = cluster.logs
    total = time.monotonic() - started

    assert state == "success", f"{task_states}; logs: {logs}"
    assert set(task_states.values()) == {"success"}
    assert len(pids) == 4
    assert samples.peak_deferred >= 4, f"only {samples.peak_deferred} models deferred at once: {samples.seconds}"
    assert samples.peak_running <= 2, "LocalExecutor ran more tasks than its 2 worker slots"
    running = samples.seconds_in("running")
    assert all(running[f"{m}.run"] < JOB_LATENCY for m in MODELS), f"a model held its slot for the job: {running}"
    inserts = [job for job in gcp.job_log()["inserts"] if "cluster_slots" in job["job_id"]]
    assert len(inserts) == len(MODELS)
    running_answers = gcp.job_log()["running_answers"]
    assert all(running_answers.get(job["job_id"], 0) >= 2 for job in inserts), "the triggerer polled each job"
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == [], "a component outlived the cluster"
    assert _processes_in_groups(pids) == [], "a process forked by a component outlived the cluster"
    print(f"cluster ready in {ready:.1f} s, whole test {total:.1f} s, running seconds per model: {running}")


def test_a_missing_dags_folder_is_reported_before_anything_starts(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with (
        pytest.raises(
            AirflowClusterError, match=re.escape(f"the DAGs folder {missing} does not exist; create it first")
        ),
        airflow_cluster(home=tmp_path / "airflow", dags_folder=missing),
    ):
        pass
    assert not (tmp_path / "airflow").exists()


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        ({"executor": "celery"}, "(executor='celery') needs database='postgres'"),
        ({"executor": "kubernetes"}, "use 'local' or 'celery'"),
        ({"database": "mysql"}, "use 'sqlite' or 'postgres'"),
        ({"triggerers": 0}, "must be at least 1"),
    ],
)
def test_a_topology_that_cannot_run_is_refused_before_anything_starts(
    tmp_path: Path, topology: dict[str, Any], message: str
) -> None:
    with (
        pytest.raises(AirflowClusterError, match=re.escape(message)),
        airflow_cluster(home=tmp_path / "home", dags_folder=tmp_path, **topology),
    ):
        pass
    assert not (tmp_path / "home").exists(), "nothing was created"
