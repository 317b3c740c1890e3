"""A failed poll is not a failed job: the trigger retries 429 / 503 answers with backoff and sends an error event only
when the job failed, is gone, or polling failed past the deadline. On the BigQuery emulator, with the faults
injected by local_gcp's proxy (a real HTTP 429 / 503 from the server the hook talks to)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger
from cosmos_remote.testing import LocalGCP


def _first_event(trigger: BigQueryInsertJobTrigger, timeout: float = 60.0) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout))


def _trigger(gcp: LocalGCP, job_id: str, *, deadline: float = 600.0) -> BigQueryInsertJobTrigger:
    return BigQueryInsertJobTrigger(
        conn_id=gcp.conn_id, job_id=job_id, project_id=gcp.project, location="US", poll_interval=0.1,
        poll_error_deadline=deadline,
    )  # fmt: skip


def _polls(gcp: LocalGCP) -> tuple[int, int]:
    log = gcp.job_log()
    return log["requests"].get("jobs.get", 0), log["faults"].get("jobs.get", 0)


def test_polls_answered_503_then_running_then_done_end_in_success(
    gcp: LocalGCP, capfd: pytest.CaptureFixture[str]
) -> None:
    gcp.set_job_latency(1.5)
    job = gcp.bigquery_client().query("select 1 as x", job_id=f"polls_{uuid.uuid4().hex[:8]}", job_retry=None)
    polls_before, faults_before = _polls(gcp)
    gcp.set_faults(first=3)  # the next three polls fail (429 or 503), then the job reports RUNNING, then DONE
    payload = _first_event(_trigger(gcp, job.job_id))
    polls, faults = _polls(gcp)
    assert payload == {"job_id": job.job_id, "status": "success", "message": "Job completed"}
    assert faults - faults_before == 3
    assert polls - polls_before >= 5, "three failed polls, at least one RUNNING, one DONE"
    assert gcp.job_log()["running_answers"].get(job.job_id, 0) >= 1
    output = "".join(capfd.readouterr())  # the trigger's log lines
    retries = [line for line in output.splitlines() if "the job is not affected, polling again" in line]
    assert len(retries) == 3, output[-3000:]
    assert all(job.job_id in line for line in retries)


def test_a_job_that_fails_sends_an_error_event_with_bigquerys_message(gcp: LocalGCP) -> None:
    failed = gcp.bigquery_client().query(
        "select * from `no_such_dataset.t`", job_id=f"polls_err_{uuid.uuid4().hex[:8]}", job_retry=None
    )
    gcp.set_faults(first=2)
    payload = _first_event(_trigger(gcp, failed.job_id))
    assert payload["status"] == "error"
    assert payload["job_id"] == failed.job_id
    assert "no_such_dataset" in payload["message"]


def test_polling_failing_past_the_deadline_is_an_error_naming_polling_and_the_job(gcp: LocalGCP) -> None:
    gcp.set_job_latency(30.0)
    job = gcp.bigquery_client().query("select 1 as x", job_id=f"polls_deadline_{uuid.uuid4().hex[:8]}", job_retry=None)
    gcp.set_faults(rate=1.0)  # every poll fails
    started = time.monotonic()
    payload = _first_event(_trigger(gcp, job.job_id, deadline=1.0))
    assert time.monotonic() - started < 20
    assert payload["status"] == "error"
    assert payload["message"].startswith(f"polling BigQuery job {job.job_id} failed for ")
    assert "may still be running" in payload["message"]
    assert "console.cloud.google.com" in payload["message"]


def test_a_job_that_is_gone_is_an_error_at_once(gcp: LocalGCP) -> None:
    payload = _first_event(_trigger(gcp, f"never_inserted_{uuid.uuid4().hex[:8]}"), timeout=30)
    assert payload["status"] == "error"
    assert "not found" in payload["message"]


def test_the_deadline_survives_serialization_to_the_triggerer(gcp: LocalGCP) -> None:
    trigger = _trigger(gcp, "j", deadline=42.0)
    path, kwargs = trigger.serialize()
    assert BigQueryInsertJobTrigger(**kwargs).poll_error_deadline == 42.0
    assert path == "cosmos_remote.backends.bigquery.triggers.BigQueryInsertJobTrigger"
