"""local_gcp(): emulators start, answer like GCS and BigQuery, and leave nothing behind."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
from google.api_core.exceptions import Conflict
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from cosmos_remote.testing import EmulatorError, local_gcp
from cosmos_remote.testing._process import ManagedProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _client(project: str, endpoint: str) -> bigquery.Client:
    return bigquery.Client(
        project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


def test_emulators_serve_gcs_and_bigquery_and_stop_by_pid() -> None:
    before = {key: os.environ.get(key) for key in ("STORAGE_EMULATOR_HOST", "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT")}
    with local_gcp(bucket="roundtrip", dataset="roundtrip_ds") as gcp:
        import gcsfs

        assert os.environ["STORAGE_EMULATOR_HOST"] == gcp.gcs_endpoint
        assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
        fs = gcsfs.GCSFileSystem(token="anon", project=gcp.project, skip_instance_cache=True)
        fs.pipe({f"{gcp.bucket}/a/b.sql": b"select 1\r\n"})
        assert fs.cat(f"{gcp.bucket}/a/b.sql") == b"select 1\r\n"

        client = _client(gcp.project, gcp.bigquery_endpoint)
        rows = list(client.query("select 40 + 2 as answer").result())
        assert [row.answer for row in rows] == [42]
        assert client.get_dataset(f"{gcp.project}.{gcp.dataset}").location == gcp.location
        pids = gcp.pids
        assert all(_alive(pid) for pid in pids)
    assert not any(_alive(pid) for pid in pids)
    assert {key: os.environ.get(key) for key in before} == before


def _emulator_logs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("cosmos-remote-*.log")}


def test_a_clean_exit_leaves_no_emulator_logs_and_a_failure_keeps_them() -> None:
    before = _emulator_logs()
    with local_gcp():
        assert len(_emulator_logs() - before) >= 3, "each emulator logs to a file while it runs"
    assert _emulator_logs() - before == set()

    def fail_inside() -> None:
        with local_gcp():
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    kept = _emulator_logs() - before
    assert len(kept) >= 3, "kept for the post-mortem"
    for name in kept:
        (Path(tempfile.gettempdir()) / name).unlink()


def test_processes_are_stopped_when_the_body_raises() -> None:
    pids: list[int] = []

    def fail_inside() -> None:
        with local_gcp() as gcp:
            pids.extend(gcp.pids)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert pids
    assert not any(_alive(pid) for pid in pids)


def test_job_latency_keeps_jobs_running_then_shows_the_real_result(gcp) -> None:  # type: ignore[no-untyped-def]
    gcp.set_job_latency(2.0)
    client = _client(gcp.project, gcp.bigquery_endpoint)
    started = time.monotonic()
    job = client.query("select 'slow' as kind", job_id_prefix="latency_", job_retry=None)
    assert job.running(), "a job younger than job_latency must report RUNNING"
    rows = list(job.result())
    assert time.monotonic() - started >= 2.0
    assert [row.kind for row in rows] == ["slow"]
    assert job.state == "DONE"
    assert gcp.job_log()["running_answers"][job.job_id] >= 1


def test_a_relation_hold_keeps_its_first_writing_job_running_once_and_results_wait_for_it(gcp) -> None:  # type: ignore[no-untyped-def]
    client = _client(gcp.project, gcp.bigquery_endpoint)
    dataset = f"{gcp.project}.{gcp.dataset}"
    gcp.hold_relations({"held_orders": 2.0})
    results_before = gcp.job_log()["requests"].get("jobs.getQueryResults", 0)
    started = time.monotonic()
    first = client.query(f"create or replace table `{dataset}.held_orders__dbt_tmp` as select 1 as id", job_retry=None)
    assert first.running(), "the first job writing a held relation stays RUNNING for its time"
    other = client.query(f"create or replace table `{dataset}.not_held` as select 2 as id", job_retry=None)
    assert other.done(), "a relation without a hold is not held"
    first.result()
    waited = time.monotonic() - started
    assert 2.0 <= waited < 6.0, f"the result call waits for the job as BigQuery does, not in backoff steps: {waited}"
    log = gcp.job_log()
    assert log["requests"].get("jobs.getQueryResults", 0) - results_before <= 3, log["requests"]
    second = client.query(f"merge into `{dataset}.held_orders` t using (select 1 as id) s on false "
                          "when not matched then insert (id) values (s.id)", job_retry=None)  # fmt: skip
    assert second.done(), "a relation is held once: the merge after its temp table is not held again"
    held = [(e["job_id"], e["relation"], e["seconds"]) for e in gcp.job_log()["held"] if e["relation"] == "held_orders"]
    assert held == [(first.job_id, "held_orders", 2.0)]


def test_a_reused_job_id_is_rejected_like_bigquery(gcp) -> None:  # type: ignore[no-untyped-def]
    client = _client(gcp.project, gcp.bigquery_endpoint)
    config = bigquery.QueryJobConfig(labels={"dbt-model": "orders"})
    client.query("select 1", job_id="fixed_job_id_1", job_config=config, job_retry=None).result()
    with pytest.raises(Conflict, match="Already Exists"):
        client.query("select 2", job_id="fixed_job_id_1", job_retry=None)
    assert client.get_job("fixed_job_id_1").labels == {"dbt-model": "orders"}
    attempts = [a for a in gcp.job_log()["inserts"] if a["job_id"] == "fixed_job_id_1"]
    assert [a["accepted"] for a in attempts] == [True, False]


def test_a_taken_port_is_a_clear_error_without_hanging() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(EmulatorError, match=rf"gcs_port.*port {port} .*already in use"), local_gcp(gcs_port=port):
            pass
        assert time.monotonic() - started < 5


def test_a_missing_emulator_binary_is_a_clear_error() -> None:
    process = ManagedProcess(name="fake-gcs-server", argv=["/nonexistent/bin/fake-gcs-server", "-port", "1"])
    with pytest.raises(EmulatorError, match=r"fake-gcs-server: executable not found .*cosmos-remote\[testing\]"):
        process.start()


def test_an_emulator_that_dies_at_start_reports_its_output() -> None:
    process = ManagedProcess(name="broken", argv=["/bin/sh", "-c", "echo cannot bind >&2; exit 3"])
    process.start()
    with pytest.raises(EmulatorError, match=r"broken exited with code 3(.|\n)*cannot bind"):
        process.wait_healthy("http://127.0.0.1:9/", timeout=10)


def test_jobs_list_agrees_with_jobs_get_and_requests_are_counted_per_method(gcp) -> None:  # type: ignore[no-untyped-def]
    client = gcp.bigquery_client()
    gcp.set_job_latency(3.0)
    job = client.query("select 1 as x", job_id=f"listed_{time.monotonic_ns()}", job_retry=None)
    running = {listed.job_id for listed in client.list_jobs(state_filter="running")}
    assert job.job_id in running, "held RUNNING by job_latency: listed RUNNING, as jobs.get says"
    assert client.get_job(job.job_id).state == "RUNNING"
    assert job.job_id not in {listed.job_id for listed in client.list_jobs(state_filter="done")}
    time.sleep(3.2)
    assert job.job_id not in {listed.job_id for listed in client.list_jobs(state_filter="running")}
    assert client.get_job(job.job_id).state == "DONE"
    counted = gcp.job_log()["requests"]
    assert counted["jobs.list"] >= 3
    assert counted["jobs.insert"] >= 1


def test_metadata_requests_are_counted_under_their_api_method(gcp) -> None:  # type: ignore[no-untyped-def]
    client = gcp.bigquery_client()
    before = dict(gcp.job_log()["requests"])
    client.get_dataset(gcp.dataset)
    list(client.list_tables(gcp.dataset))
    list(client.list_datasets())
    counted = gcp.job_log()["requests"]
    grown = {
        method: counted[method] - before.get(method, 0)
        for method in counted
        if counted[method] != before.get(method, 0)
    }
    assert grown == {"datasets.get": 1, "tables.list": 1, "datasets.list": 1}
    assert set(grown) <= set(gcp.API_METHODS)


def test_jobs_list_pages_like_bigquery_past_the_emulators_own_page(gcp) -> None:  # type: ignore[no-untyped-def]
    client = gcp.bigquery_client()
    gcp.set_job_latency(600.0)
    prefix = f"paged_{time.monotonic_ns()}"
    jobs = {client.query("select 1 as x", job_id=f"{prefix}_{i}", job_retry=None).job_id for i in range(130)}
    gcp.finish_jobs([f"{prefix}_0"])
    pages = client.list_jobs(state_filter="running", page_size=50).pages
    listed = [[job.job_id for job in page] for page in pages]
    running = {job_id for page in listed for job_id in page if job_id.startswith(prefix)}
    assert running == jobs - {f"{prefix}_0"}, "every RUNNING job, on pages of 50, and not the one made DONE"
    assert len(listed) >= 3
    assert all(len(page) <= 50 for page in listed)


def test_injected_faults_answer_429_or_503_seeded_and_only_for_the_chosen_methods(gcp) -> None:  # type: ignore[no-untyped-def]
    from google.api_core.exceptions import ServiceUnavailable, TooManyRequests

    client = gcp.bigquery_client()
    job = client.query("select 1 as x", job_id=f"faulty_{time.monotonic_ns()}", job_retry=None)
    job.result()
    before = gcp.job_log()["faults"].get("jobs.get", 0)
    gcp.set_faults(rate=0.5, seed=7)
    outcomes = []
    for _ in range(40):
        try:
            client.get_job(job.job_id, retry=None)
            outcomes.append("ok")
        except (TooManyRequests, ServiceUnavailable) as error:
            outcomes.append(str(error.code))
    assert {"ok", "429", "503"} <= set(outcomes)
    assert 8 <= outcomes.count("429") + outcomes.count("503") <= 32
    assert gcp.job_log()["faults"]["jobs.get"] - before == 40 - outcomes.count("ok")
    list(client.list_jobs(max_results=1))  # another method: never faulted
    gcp.set_faults()
    assert client.get_job(job.job_id, retry=None).state == "DONE"
