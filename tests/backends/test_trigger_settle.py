"""The trigger holds its event until the settle time after the deferral (see the trigger module for why), names the
job in every event, and is not delayed past it: on the BigQuery emulator."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger
from cosmos_remote.testing import LocalGCP


def _first_event(trigger: BigQueryInsertJobTrigger) -> tuple[dict[str, Any], float]:
    async def first() -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        async for event in trigger.run():
            return dict(event.payload), time.monotonic() - started
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def _trigger(gcp: LocalGCP, job_id: str, *, settle: float) -> BigQueryInsertJobTrigger:
    return BigQueryInsertJobTrigger(
        conn_id=gcp.conn_id, job_id=job_id, project_id=gcp.project, location="US", poll_interval=0.2,
        settle_until=time.time() + settle,
    )  # fmt: skip


def test_a_job_done_at_once_is_reported_only_after_the_settle_time_and_names_the_job(gcp: LocalGCP) -> None:
    client = gcp.bigquery_client()
    done = client.query("select 1 as x", job_id=f"settle_ok_{uuid.uuid4().hex[:8]}")
    done.result()
    payload, waited = _first_event(_trigger(gcp, done.job_id, settle=2.0))
    assert payload["status"] == "success"
    assert payload["job_id"] == done.job_id
    assert waited >= 1.8

    failed = client.query("select * from `no_such_dataset.t`", job_id=f"settle_err_{uuid.uuid4().hex[:8]}")
    payload, waited = _first_event(_trigger(gcp, failed.job_id, settle=0.0))
    assert payload["status"] == "error"
    assert payload["job_id"] == failed.job_id, "an error event names its job too"
    assert waited < 5.0, "no settle time left: no delay"


def test_the_settle_time_survives_serialization_to_the_triggerer(gcp: LocalGCP) -> None:
    trigger = _trigger(gcp, "j", settle=30.0)
    path, kwargs = trigger.serialize()
    assert path == "cosmos_remote.backends.bigquery.triggers.BigQueryInsertJobTrigger"
    assert BigQueryInsertJobTrigger(**kwargs).settle_until == trigger.settle_until
