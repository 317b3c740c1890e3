"""The example DbtDag on a real Airflow deployment: many dbt tasks deferred at once on two worker slots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow_cluster import airflow_cluster

PRELOAD = (
    "cosmos_remote.backends.bigquery.operators",
    "cosmos_remote.artifacts",
    "cosmos_remote.dbt.manifest",
    "gcsfs",
)


@pytest.mark.slow
def test_example_dbt_dag_on_scheduler_and_triggerer(gcp: LocalGCP, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    example = Path(__file__).resolve().parents[2] / "examples" / "dags" / "jaffle_shop.py"
    (dags / example.name).symlink_to(example)
    gcp.create_dataset("example_cluster")
    env = {
        **gcp.env,
        "COSMOS_REMOTE_BQ_DATASET": "example_cluster",
        "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/cluster",
    }
    # 20 s: the four models after staging (two incrementals, orders, the snapshot) become ready up to ~10 s apart
    # on 2 slots; every job outlasting that spread makes them overlap.
    gcp.set_job_latency(20.0)
    started = time.monotonic()
    with airflow_cluster(home=tmp_path / "airflow", dags_folder=dags, parallelism=2, env=env, preload=PRELOAD) as c:
        run_id = c.trigger("jaffle_shop")
        with c.record_states("jaffle_shop", run_id, interval=0.2) as samples:
            state = c.wait("jaffle_shop", run_id, timeout=600)
        states = c.task_states("jaffle_shop", run_id)
    assert state == "success", states
    assert set(states.values()) == {"success"}
    assert samples.peak_running <= 2
    assert samples.peak_deferred >= 4, f"peak of {samples.peak_deferred} deferred dbt tasks: {samples.seconds}"
    running = samples.seconds_in("running")
    assert all(seconds < 20.0 for task, seconds in running.items() if task != "dbt_setup"), running
    print(f"example DAG on the cluster in {time.monotonic() - started:.0f} s; running seconds: {running}")
