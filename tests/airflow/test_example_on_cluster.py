"""The example DbtDag on a real Airflow deployment: many dbt tasks deferred at once on two worker slots, and what a
person reads about that run in the Airflow UI (headless Chromium)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cosmos_remote.testing import LocalGCP
from cosmos_remote.testing.airflow_cluster import AirflowCluster, StateRecorder, airflow_cluster
from cosmos_remote.testing.chromium import chromium_path, headless_chromium

PRELOAD = (
    "cosmos_remote.backends.bigquery.operators",
    "cosmos_remote.artifacts",
    "cosmos_remote.dbt.manifest",
    "gcsfs",
)
DAG = "jaffle_shop"


@dataclass
class ClusterRun:
    cluster: AirflowCluster
    run_id: str
    state: str
    states: dict[str, str | None]
    tries: dict[str, int]
    samples: StateRecorder
    seconds: float


@pytest.fixture(scope="module")
def example_run(local_gcp_session: LocalGCP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterRun]:
    """One run of the example DAG on a cluster that stays up for the tests of this module."""
    gcp, tmp_path = local_gcp_session, tmp_path_factory.mktemp("cluster")
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
    try:
        with airflow_cluster(home=tmp_path / "airflow", dags_folder=dags, parallelism=2, env=env, preload=PRELOAD) as c:
            run_id = c.trigger(DAG)
            with c.record_states(DAG, run_id, interval=0.2) as samples:
                state = c.wait(DAG, run_id, timeout=600)
            seconds = time.monotonic() - started
            yield ClusterRun(c, run_id, state, c.task_states(DAG, run_id), c.task_tries(DAG, run_id), samples, seconds)
    finally:
        gcp.set_job_latency(0.0)


@pytest.mark.slow
@pytest.mark.e2e
def test_example_dbt_dag_on_scheduler_and_triggerer(example_run: ClusterRun) -> None:
    run, samples = example_run, example_run.samples
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}
    assert set(run.tries.values()) == {1}, f"a task needed a retry: {run.tries}"
    assert samples.peak_running <= 2
    assert samples.peak_deferred >= 4, f"peak of {samples.peak_deferred} deferred dbt tasks: {samples.seconds}"
    running = samples.seconds_in("running")
    assert all(seconds < 20.0 for task, seconds in running.items() if task != "dbt_setup"), running
    print(f"example DAG on the cluster in {run.seconds:.0f} s; running seconds: {running}")


def _compact(text: str) -> str:
    """The UI's code view puts tokens on lines of their own in ``innerText``: compare without whitespace."""
    return re.sub(r"\s+", "", text)


def _our_log_lines(home: Path) -> list[str]:
    """Every task and trigger log line that cosmos_remote's own code wrote in this run."""
    lines = []
    for path in (home / "logs").rglob("*.log*"):
        for line in path.read_text(errors="replace").splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            if "cosmos_remote" in str(record.get("logger", "")):
                lines.append(f"{path.parent.name}: {record.get('event')}")
    return lines


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(
    chromium_path() is None,
    reason="Chromium is not installed: `apt-get install chromium` (make test installs it where apt-get can run)",
)
def test_the_airflow_ui_shows_the_sql_the_links_and_the_test_outcomes(example_run: ClusterRun) -> None:
    run, ui = example_run, example_run.cluster
    assert run.state == "success", run.states
    with headless_chromium(height=1600) as page:
        # Rendered Templates: the model's SQL, and project, dataset, location and artifact URI as their own fields.
        page.open(ui.ui_url(DAG, run.run_id, "orders.run", "rendered_templates"))
        text = _compact(page.wait_for_text("sql", "project_id", "artifact_uri", timeout=60))
        assert "createorreplacetable`local-project`.`example_cluster_marts`.`orders`" in text
        assert "project_idlocal-project" in text.replace("1local-project", "local-project")
        assert "datasetexample_cluster_marts" in text.replace("1example", "example")
        assert "gs://cosmos-remote/cosmos/cluster/jaffle_shop/" in text.replace("1gs://", "gs://")
        # only the model's own dataset is created in its script (the run's other datasets once, by dbt_setup's run)
        assert "example_cluster_snapshots" not in text, "another dataset's CREATE SCHEMA in orders' SQL"

        # Details: both extra links, in the profile's project, naming this run's job and the model's table.
        page.open(ui.ui_url(DAG, run.run_id, "orders.run", "details"))
        page.wait_for_text("Extra Links", "BigQuery Job Detail", "BigQuery Table", timeout=60)
        links = page.links()
        job, table = links["BigQuery Job Detail"], links["BigQuery Table"]
        assert all(part in job for part in ("project=local-project", "orders_run")), job
        assert "project=None" not in job
        assert all(part in table for part in ("d=example_cluster_marts", "t=orders", "p=local-project")), table

        # Logs of a test task: the outcome and each test by name.
        page.open(ui.ui_url(DAG, run.run_id, "orders.test"))
        text = page.wait_for_text("4 passed, 0 warned, 0 failed", timeout=60)
        assert all(f"PASS {test}" in text for test in ("unique_orders_order_id", "not_null_orders_order_id"))
        assert "dbt tests of model.jaffle_shop.orders (4 tests): started BigQuery job" in text

        # Asset events of a model: the relation and the job in the event's extra.
        page.open(ui.ui_url(DAG, run.run_id, "orders.run", "asset_events"))
        page.wait_for_text("bigquery://", timeout=60)

    lines = _our_log_lines(ui.home)
    assert lines, "no log line of cosmos_remote's found"
    assert not [line for line in lines if re.search(r"\bNone\b", line)], "a log line prints None"
